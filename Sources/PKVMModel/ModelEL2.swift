import GuestImage

/// What the model's EL2 decided about one HVC/SMC.
public enum HypercallOutcome: Equatable, Sendable {
    /// Return to the guest with these X0…X3.
    case result([UInt64])
    /// A MEM_SHARE/MEM_UNSHARE EL2 handled (result in X0); the VMM's ledger is
    /// told so it can check its own answer against the hypervisor's.
    case memory(operation: MemoryOperation, ipa: UInt64, accepted: Bool, refusal: EL2Refusal?)
    case systemOff
    case systemReset
    case cpuOff
    /// PSCI CPU_ON for `target` (an MPIDR affinity) at `entry` with X0 = `context`.
    case cpuOn(target: UInt64, entry: UInt64, context: UInt64)

    public enum MemoryOperation: String, Sendable { case share, unshare }
}

/// Why EL2 refused a MEM_SHARE/MEM_UNSHARE (the guest gets INVALID_PARAMETER
/// either way); the model and its checks decide on the case.
public enum EL2Refusal: Equatable, Sendable, CustomStringConvertible {
    /// X2/X3 are not zero: pKVM rejects the call before it looks at the page
    /// (`pkvm_memshare_call`), so no ownership changes hands.
    case malformedArguments
    case unaligned(ipa: UInt64)
    case outsideMemory(ipa: UInt64)
    /// The page is not in the state the transition needs.
    case ownership(String)

    public var description: String {
        switch self {
        case .malformedArguments: "X2/X3 must be zero"
        case .unaligned(let ipa): "IPA 0x\(String(ipa, radix: 16)) is not granule aligned"
        case .outsideMemory(let ipa): "IPA 0x\(String(ipa, radix: 16)) is outside guest memory"
        case .ownership(let why): why
        }
    }
}

/// The model's EL2: pKVM's hypercall handling for a protected VM
/// (arch/arm64/kvm/hyp/nvhe/pkvm.c) on top of `HypPageTable`, plus PSCI as
/// host KVM answers it. Pure over its inputs, so it is tested call by call.
public struct ModelEL2: Sendable {
    public var granule: UInt64 = 4096
    /// False models a hypervisor without the pKVM vendor calls (a
    /// non-protected VM, or QEMU): FEATURES/MEMINFO/SHARE/UNSHARE answer
    /// NOT_SUPPORTED, as host KVM does.
    public var vendorCalls: Bool = true

    public init(vendorCalls: Bool = true) {
        self.vendorCalls = vendorCalls
    }

    static func word(_ value: Int64) -> UInt64 { UInt64(bitPattern: value) }
    static let notSupported = word(SMCCCReturn.notSupported)
    static let invalid = word(SMCCCReturn.invalidParameter)

    /// Handles function `x[0]` with arguments `x[1...]`.
    public func handle(_ x: [UInt64], table: HypPageTable) -> HypercallOutcome {
        let function = x[0] & 0xFFFF_FFFF
        switch function {
        case SMCCCFunction.kvmFeatures:
            return .result([vendorCalls ? SMCCCFunction.protectedVMFeatures : Self.notSupported, 0, 0, 0])
        case SMCCCFunction.hypMeminfo:
            guard vendorCalls else { return .result([Self.notSupported, 0, 0, 0]) }
            // pkvm_meminfo_call: any non-zero argument is a guest error.
            guard x[1] == 0, x[2] == 0, x[3] == 0 else { return .result([Self.invalid, 0, 0, 0]) }
            return .result([granule, 0, 0, 0])
        case SMCCCFunction.memShare, SMCCCFunction.memUnshare:
            guard vendorCalls else { return .result([Self.notSupported, 0, 0, 0]) }
            let operation: HypercallOutcome.MemoryOperation = function == SMCCCFunction.memShare ? .share : .unshare
            let ipa = x[1]
            guard x[2] == 0, x[3] == 0 else {
                return .memory(operation: operation, ipa: ipa, accepted: false, refusal: .malformedArguments)
            }
            guard ipa % granule == 0 else {
                return .memory(operation: operation, ipa: ipa, accepted: false, refusal: .unaligned(ipa: ipa))
            }
            do {
                if operation == .share {
                    try table.guestShare(ipa / granule)
                } else {
                    try table.guestUnshare(ipa / granule)
                }
                return .memory(operation: operation, ipa: ipa, accepted: true, refusal: nil)
            } catch {
                let reason: EL2Refusal = table.index(of: ipa / granule) == nil ? .outsideMemory(ipa: ipa) : .ownership(error.description)
                return .memory(operation: operation, ipa: ipa, accepted: false, refusal: reason)
            }
        case SMCCCFunction.psciVersion:
            return .result([0x1_0001, 0, 0, 0])  // PSCI 1.1, as KVM reports by default
        case SMCCCFunction.psciFeatures:
            let known: Set<UInt64> = [SMCCCFunction.psciVersion, SMCCCFunction.psciCPUOff, SMCCCFunction.psciCPUOn,
                                      SMCCCFunction.psciSystemOff, SMCCCFunction.psciSystemReset, SMCCCFunction.psciFeatures]
            return .result([known.contains(x[1] & 0xFFFF_FFFF) ? 0 : Self.notSupported, 0, 0, 0])
        case SMCCCFunction.psciSystemOff:
            return .systemOff
        case SMCCCFunction.psciSystemReset:
            return .systemReset
        case SMCCCFunction.psciCPUOff:
            return .cpuOff
        case SMCCCFunction.psciCPUOn, 0x8400_0003:
            return .cpuOn(target: x[1], entry: x[2], context: x[3])
        default:
            return .result([Self.notSupported, 0, 0, 0])
        }
    }
}
