import Glibc
import Ownership

/// A guest's request to change who owns its memory, as decoded by a platform
/// from its transport (x86 `KVM_HC_MAP_GPA_RANGE` or doorbell, arm64 pKVM
/// `MEM_SHARE`/`MEM_UNSHARE`, Android pKVM `MEM_RELINQUISH`).
public struct MemoryRequest: Equatable, Sendable {
    public enum Operation: String, Sendable {
        /// private → shared (the host may now read and write the pages).
        case share
        /// shared → private.
        case unshare
        /// private → host: the guest gives the page back for good (Android
        /// pKVM's MEM_RELINQUISH; EL2 zeroes it first).
        case relinquish
        /// host → private: the guest touched a page it had given back, and
        /// the hypervisor donated it again (a stage-2 fault, not a call).
        case donate
    }
    public var operation: Operation
    public var gpa: UInt64
    public var pages: UInt64
    /// How the request arrived, for the journal ("vmcall", "doorbell", "hvc").
    public var transport: String

    public init(operation: Operation, gpa: UInt64, pages: UInt64, transport: String) {
        self.operation = operation
        self.gpa = gpa
        self.pages = pages
        self.transport = transport
    }
}

/// Why a memory request was refused; the platform turns it into the error
/// code its guests expect (x86: -KVM_EINVAL, pKVM: SMCCC INVALID_PARAMETER).
public enum MemoryRequestRejection: Error, Equatable, Sendable, CustomStringConvertible {
    case unaligned(gpa: UInt64)
    case emptyRange
    case ledger(LedgerError)

    public var description: String {
        switch self {
        case .unaligned(let gpa): "gpa 0x\(String(gpa, radix: 16)) is not page aligned"
        case .emptyRange: "the request covers no pages"
        case .ledger(let error): error.description
        }
    }
}

/// What the guest reports on the harness port.
public enum HarnessReport: Equatable, Sendable {
    /// A message the guest left in shared memory for the host to read.
    case message(gpa: UInt64, length: UInt64)
    /// The guest's own check of an answer it got.
    case check(id: UInt64, passed: Bool, value: Int64)
    /// The guest finished its programme with this status (0 = success).
    case done(status: UInt64)
    /// The guest read back a word of its own memory that is not what it
    /// wrote (the stress guests): the word's address, what it wrote, what it read.
    case corrupted(gpa: UInt64, expected: UInt64, found: UInt64)
    /// Something the harness does not know.
    case unknown(code: UInt64, arguments: [UInt64])
}

/// Why a vCPU stopped running the guest.
public enum VCPUStopReason: Equatable, Sendable, CustomStringConvertible {
    /// x86 HLT with interrupts off: the guest is done.
    case halted
    /// PSCI SYSTEM_OFF / system event shutdown.
    case poweredOff
    case reset
    /// Triple fault or KVM_EXIT_SHUTDOWN.
    case shutdown
    /// The VMM asked it to stop (teardown, signal, timeout).
    case stopRequested
    /// Something went wrong: an exit the harness cannot handle, a failed ioctl, a fault.
    case failed(VCPUFailure)

    public var description: String {
        switch self {
        case .halted: "halted"
        case .poweredOff: "powered off"
        case .reset: "reset requested"
        case .shutdown: "shutdown (triple fault)"
        case .stopRequested: "stopped by the VMM"
        case .failed(let why): "failed: \(why)"
        }
    }

    /// Whether the guest ended the way a finished guest ends.
    public var isCleanStop: Bool {
        switch self {
        case .halted, .poweredOff: true
        default: false
        }
    }
}

/// Why a vCPU could not go on, as a kind checks decide on and a sentence
/// people read.
public struct VCPUFailure: Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        /// The guest touched an address with neither RAM nor a device
        /// (`KVM_EXIT_MMIO` nobody decodes, or the model's bus).
        case unmappedAccess(gpa: UInt64)
        /// `KVM_EXIT_MEMORY_FAULT`.
        case memoryFault(gpa: UInt64)
        /// `KVM_EXIT_INTERNAL_ERROR`.
        case internalError
        /// `KVM_EXIT_FAIL_ENTRY`.
        case failEntry
        /// An exit pvmh knows but does not handle, or cannot decode.
        case unhandledExit
        /// An ioctl on the vCPU failed (KVM_RUN, ONE_REG, GET_REGS…), with its errno.
        case ioctlFailed(errno: Int32)
        /// The guest reported a crash (PSCI SYSTEM_EVENT CRASH).
        case guestCrash
        /// The guest touched a page its stage-2 does not give it (the model).
        case stage2Fault(gpa: UInt64)
        /// The guest's exception vector faults forever (the model).
        case exceptionLoop
        /// The guest made a call its platform cannot answer (a protocol error).
        case protocolError
        /// The model's interpreter stopped (an encoding it does not model…).
        case interpreter
    }

    public var kind: Kind
    public var description: String

    public init(_ kind: Kind, _ description: String) {
        self.kind = kind
        self.description = description
    }

    /// KVM reported a fault for the guest's access (a memslot gone, memory
    /// the kernel refused): the outcomes deleting a memslot under a running
    /// vCPU may have.
    public var isMemoryAccessFailure: Bool {
        switch kind {
        case .unmappedAccess, .memoryFault, .internalError: true
        case .ioctlFailed(let errno): errno == EFAULT
        default: false
        }
    }
}

/// What a platform's vCPU run loop hands the lifecycle core. Everything
/// architecture specific (ports, HVC numbers, register conventions) stays in
/// the platform; the core only sees these.
public enum GuestEvent: Equatable, Sendable {
    case console([UInt8])
    /// A share/unshare for the VMM to decide: the ledger's answer is what the
    /// guest gets (x86 transports, the SMCCC filter, the MMIO doorbell).
    case memoryRequest(MemoryRequest)
    /// A share/unshare the hypervisor already decided and answered (pKVM's
    /// EL2, the model's): the ledger follows it and must reach the same
    /// verdict, or the run records the disagreement. The reply carries the
    /// ledger's verdict, for platforms that check more against it.
    case memoryNotice(MemoryRequest, hypervisor: HypervisorVerdict)
    case report(HarnessReport)
    case stopped(VCPUStopReason)
}

/// What the hypervisor answered a share/unshare it handled itself.
public enum HypervisorVerdict: Equatable, Sendable {
    case accepted
    /// Refused, and why (as the hypervisor says it).
    case refused(String)
}

/// Who decided a share/unshare the lifecycle saw.
public enum MemoryDecider: Equatable, Sendable {
    /// The VMM, from the ledger (`GuestEvent.memoryRequest`): the ledger's
    /// answer is what the guest got.
    case vmm
    /// The hypervisor (`GuestEvent.memoryNotice`: pKVM's or the model's EL2),
    /// with its verdict; the ledger followed it.
    case hypervisor(HypervisorVerdict)
}

/// The core's answer to a `GuestEvent`, which the platform completes before
/// re-entering the guest.
public enum GuestReply: Equatable, Sendable {
    /// Nothing to hand back: resume.
    case resume
    /// The result of a memory request.
    case memoryResult(Result<Void, MemoryRequestRejection>)

    public static func == (lhs: GuestReply, rhs: GuestReply) -> Bool {
        switch (lhs, rhs) {
        case (.resume, .resume): true
        case (.memoryResult(.success), .memoryResult(.success)): true
        case (.memoryResult(.failure(let a)), .memoryResult(.failure(let b))): a == b
        default: false
        }
    }
}
