import GuestImage
import Lifecycle

/// X0…X3 of an SMCCC call, or of its answer.
public struct SMCCCRegisters: Equatable, Sendable, CustomStringConvertible {
    public var x0: UInt64
    public var x1: UInt64
    public var x2: UInt64
    public var x3: UInt64

    public init(_ x0: UInt64, _ x1: UInt64 = 0, _ x2: UInt64 = 0, _ x3: UInt64 = 0) {
        self.x0 = x0
        self.x1 = x1
        self.x2 = x2
        self.x3 = x3
    }

    /// An answer: `value` in X0, zero in X1…X3 (pKVM's `smccc_set_retval(vcpu, value, 0, 0, 0)`).
    public static func result(_ value: Int64) -> SMCCCRegisters {
        SMCCCRegisters(UInt64(bitPattern: value))
    }

    /// In register order.
    public var values: [UInt64] { [x0, x1, x2, x3] }

    public var description: String {
        "[" + values.map { "0x" + String($0, radix: 16) }.joined(separator: ", ") + "]"
    }
}

/// pKVM's vendor hypercalls, answered by the VMM exactly as pKVM's EL2
/// answers a protected VM (arch/arm64/kvm/hyp/nvhe/pkvm.c; Docs/kvm-abi.md), for
/// platforms where the calls reach userspace through the SMCCC filter.
/// Pure: registers in, decision out, tested on synthetic register files.
public enum ARM64VendorCalls {
    /// What to do with one forwarded call.
    public enum Decision: Equatable, Sendable {
        /// Write these registers back and resume.
        case answer(SMCCCRegisters)
        /// Ask the lifecycle's ledger; answer with `answer(for:)` of its verdict.
        case memoryRequest(MemoryRequest)
    }

    /// The protection granule HYP_MEMINFO reports.
    public static let granule: UInt64 = 4096
    /// How the request is named in the journal.
    public static let transport = "hvc (SMCCC filter)"
    /// How a request through the harness doorbell is named in the journal.
    public static let doorbellTransport = "mmio doorbell"

    /// Decodes a call: `call.x0` is the function id (`kvm_run.hypercall.nr`),
    /// X1…X3 its arguments as read with `KVM_GET_ONE_REG`.
    public static func decode(_ call: SMCCCRegisters, transport: String = transport) -> Decision {
        // The function id is W0: SMCCC ignores the upper half of X0.
        let function = call.x0 & 0xFFFF_FFFF
        switch function {
        case SMCCCFunction.kvmFeatures:
            return .answer(SMCCCRegisters(SMCCCFunction.protectedVMFeatures))
        case SMCCCFunction.hypMeminfo:
            guard call.x1 == 0, call.x2 == 0, call.x3 == 0 else { return .answer(.result(SMCCCReturn.invalidParameter)) }
            return .answer(SMCCCRegisters(granule))
        case SMCCCFunction.memShare, SMCCCFunction.memUnshare:
            // pkvm_memshare_call/pkvm_memunshare_call: X2 and X3 must be zero
            // before the IPA is looked at. Alignment and ownership are the
            // ledger's rules (MemoryRequestPolicy), as they are EL2's.
            guard call.x2 == 0, call.x3 == 0 else { return .answer(.result(SMCCCReturn.invalidParameter)) }
            let operation: MemoryRequest.Operation = function == SMCCCFunction.memShare ? .share : .unshare
            return .memoryRequest(MemoryRequest(operation: operation, gpa: call.x1, pages: 1, transport: transport))
        default:
            // 0xC6000000/0xC6000001 and anything else the filter forwards:
            // EL2 passes them to host KVM, which does not know them.
            return .answer(.result(SMCCCReturn.notSupported))
        }
    }

    /// The guest's answer to a MEM_SHARE/MEM_UNSHARE: SUCCESS, or
    /// INVALID_PARAMETER (-3) for every refusal, as pKVM answers.
    public static func answer(for result: Result<Void, MemoryRequestRejection>) -> SMCCCRegisters {
        switch result {
        case .success: .result(SMCCCReturn.success)
        case .failure: .result(SMCCCReturn.invalidParameter)
        }
    }
}
