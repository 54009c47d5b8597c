import GuestImage

/// What the model's EL2 decided about one HVC/SMC.
public enum HypercallOutcome: Equatable, Sendable {
    /// Return to the guest with these X0…X3.
    case result([UInt64])
    /// A MEM_SHARE/MEM_UNSHARE/MEM_RELINQUISH EL2 handled (result in X0);
    /// the VMM's ledger is told so it can check its own answer against the
    /// hypervisor's.
    case memory(operation: MemoryOperation, ipa: UInt64, accepted: Bool, refusal: EL2Refusal?)
    /// MEM_RELINQUISH of an IPA the guest's stage-2 does not map (given back
    /// already, or not memory): android14-6.1 answers SUCCESS and changes
    /// nothing, so the ledger hears nothing.
    case relinquishedNothing(ipa: UInt64)
    /// An MMIO guard call EL2 handled (X0 = 0, or -3 with `refusal`); the
    /// VMM never hears of these on real pKVM.
    case mmioGuard(MMIOGuardCall, ipa: UInt64, refusal: MMIOGuard.Refusal?)
    case systemOff
    case systemReset
    case cpuOff
    /// PSCI CPU_ON for `target` (an MPIDR affinity) at `entry` with X0 = `context`.
    case cpuOn(target: UInt64, entry: UInt64, context: UInt64)

    public enum MemoryOperation: String, Sendable { case share, unshare, relinquish }

    /// A PSCI decision (host KVM's, not a vendor call's).
    public var isPSCI: Bool {
        switch self {
        case .systemOff, .systemReset, .cpuOff, .cpuOn: true
        case .result, .memory, .relinquishedNothing, .mmioGuard: false
        }
    }
    public enum MMIOGuardCall: String, Sendable { case enroll, map, unmap }
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
/// host KVM answers it; upstream's vendor calls, or Android's as well
/// (Docs/kvm-abi.md, "Android's protected-VM ABI"). Pure over its inputs
/// (the page table and its MMIO guard), so it is tested call by call.
public struct ModelEL2: Sendable {
    public var granule: UInt64 = 4096
    /// False models a hypervisor without the pKVM vendor calls (a
    /// non-protected VM, or QEMU): FEATURES/MEMINFO/SHARE/UNSHARE answer
    /// NOT_SUPPORTED, as host KVM does.
    public var vendorCalls: Bool = true
    /// Whose pKVM: which vendor calls exist and what FEATURES says.
    public var flavour: PKVMFlavour = .upstream

    public init(vendorCalls: Bool = true, flavour: PKVMFlavour = .upstream) {
        self.vendorCalls = vendorCalls
        self.flavour = flavour
    }

    static func word(_ value: Int64) -> UInt64 { UInt64(bitPattern: value) }
    static let notSupported = word(SMCCCReturn.notSupported)
    static let invalid = word(SMCCCReturn.invalidParameter)

    /// Handles function `x[0]` with arguments `x[1...]`. `scrub` zeroes
    /// guest page `i` (of `table`), as EL2 does before it gives a page to the host.
    public func handle(_ x: [UInt64], table: HypPageTable, scrub: (Int) -> Void = { _ in }) -> HypercallOutcome {
        let function = x[0] & 0xFFFF_FFFF
        if (function >> 24) & 0x3F == 6, !(vendorCalls && flavour.offers(function)) {
            return .result([Self.notSupported, 0, 0, 0])
        }
        switch function {
        case SMCCCFunction.kvmFeatures:
            return .result([vendorCalls ? flavour.features : Self.notSupported, 0, 0, 0])
        case SMCCCFunction.hypMeminfo, SMCCCFunction.mmioGuardInfo:
            // pkvm_meminfo_call (MMIO_GUARD_INFO shares it): any non-zero
            // argument is a guest error.
            guard x[1] == 0, x[2] == 0, x[3] == 0 else { return .result([Self.invalid, 0, 0, 0]) }
            return .result([granule, 0, 0, 0])
        case SMCCCFunction.mmioGuardEnroll:
            table.mmioGuard.enroll()
            return .mmioGuard(.enroll, ipa: 0, refusal: nil)
        case SMCCCFunction.mmioGuardMap:
            // X1 = IPA; android14-6.1 never reads X2 (documented as a MAIR index).
            do {
                try table.mmioGuard.map(ipa: x[1], isMemory: table.guestMaps(x[1] / granule))
                return .mmioGuard(.map, ipa: x[1], refusal: nil)
            } catch {
                return .mmioGuard(.map, ipa: x[1], refusal: error)
            }
        case SMCCCFunction.mmioGuardUnmap:
            do {
                try table.mmioGuard.unmap(ipa: x[1])
                return .mmioGuard(.unmap, ipa: x[1], refusal: nil)
            } catch {
                return .mmioGuard(.unmap, ipa: x[1], refusal: error)
            }
        case SMCCCFunction.memRelinquish:
            // pkvm_memrelinquish_call: X2/X3 zero and the IPA aligned, then
            // the guest's stage-2 is walked; nothing mapped there is SUCCESS.
            let ipa = x[1]
            guard x[2] == 0, x[3] == 0 else {
                return .memory(operation: .relinquish, ipa: ipa, accepted: false, refusal: .malformedArguments)
            }
            guard ipa % granule == 0 else {
                return .memory(operation: .relinquish, ipa: ipa, accepted: false, refusal: .unaligned(ipa: ipa))
            }
            guard table.guestMaps(ipa / granule) else { return .relinquishedNothing(ipa: ipa) }
            do {
                try table.guestRelinquish(ipa / granule, zero: scrub)
                return .memory(operation: .relinquish, ipa: ipa, accepted: true, refusal: nil)
            } catch {
                return .memory(operation: .relinquish, ipa: ipa, accepted: false, refusal: .ownership(error.description))
            }
        case SMCCCFunction.memShare, SMCCCFunction.memUnshare:
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
