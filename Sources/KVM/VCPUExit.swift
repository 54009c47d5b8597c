import Glibc

/// Why `KVM_RUN` returned: one case per `KVM_EXIT_*` the harness understands,
/// with the payload copied out of `kvm_run` (the mapping is reused on the next
/// run), `interrupted` for EINTR, and `unsupported` instead of a crash.
public enum VCPUExit: Equatable, Sendable {
    case io(PortIO)
    case mmio(MMIOAccess)
    case hlt
    case hypercall(HypercallExit)
    /// `KVM_EXIT_MEMORY_FAULT`: arrives as KVM_RUN failing with EFAULT/EHWPOISON.
    case memoryFault(MemoryFaultExit)
    case systemEvent(SystemEvent)
    case shutdown
    case internalError(suberror: UInt32, data: [UInt64])
    case failEntry(reason: UInt64, cpu: UInt32)
    /// KVM_RUN returned EINTR (a kick with `immediate_exit`, or a signal).
    case interrupted
    /// A `KVM_EXIT_*` pvmh knows by name but does not handle (e.g. `KVM_EXIT_ARM_NISV`).
    case unhandled(Reason)
    /// An exit pvmh cannot even decode (an unknown reason, an impossible payload).
    case unsupported(reason: String)

    /// `KVM_EXIT_*` numbers (Docs/kvm-abi.md).
    public enum Reason: UInt32, Sendable, CaseIterable {
        case unknown = 0, exception = 1, io = 2, hypercall = 3, debug = 4, hlt = 5, mmio = 6
        case irqWindowOpen = 7, shutdown = 8, failEntry = 9, intr = 10, setTPR = 11
        case tprAccess = 12, s390Sieic = 13, s390Reset = 14, dcr = 15, nmi = 16
        case internalError = 17, osi = 18, paprHcall = 19, s390Ucontrol = 20, watchdog = 21
        case s390Tsch = 22, epr = 23, systemEvent = 24, s390Stsi = 25, ioapicEOI = 26
        case hyperv = 27, armNISV = 28, x86RDMSR = 29, x86WRMSR = 30, dirtyRingFull = 31
        case apResetHold = 32, x86BusLock = 33, xen = 34, riscvSBI = 35, riscvCSR = 36
        case notify = 37, loongarchIOCSR = 38, memoryFault = 39, tdx = 40, arm64SEA = 41

        /// `KVM_EXIT_IO` style name.
        public var name: String {
            switch self {
            case .unknown: "KVM_EXIT_UNKNOWN"
            case .exception: "KVM_EXIT_EXCEPTION"
            case .io: "KVM_EXIT_IO"
            case .hypercall: "KVM_EXIT_HYPERCALL"
            case .debug: "KVM_EXIT_DEBUG"
            case .hlt: "KVM_EXIT_HLT"
            case .mmio: "KVM_EXIT_MMIO"
            case .irqWindowOpen: "KVM_EXIT_IRQ_WINDOW_OPEN"
            case .shutdown: "KVM_EXIT_SHUTDOWN"
            case .failEntry: "KVM_EXIT_FAIL_ENTRY"
            case .intr: "KVM_EXIT_INTR"
            case .internalError: "KVM_EXIT_INTERNAL_ERROR"
            case .systemEvent: "KVM_EXIT_SYSTEM_EVENT"
            case .memoryFault: "KVM_EXIT_MEMORY_FAULT"
            case .x86RDMSR: "KVM_EXIT_X86_RDMSR"
            case .x86WRMSR: "KVM_EXIT_X86_WRMSR"
            case .armNISV: "KVM_EXIT_ARM_NISV"
            case .notify: "KVM_EXIT_NOTIFY"
            default: "KVM_EXIT_\(String(describing: self).uppercased())"
            }
        }
    }

    /// Offsets inside `struct kvm_run` (asserted against the C layout in CKVM).
    public enum Layout {
        public static let immediateExit = 1
        public static let exitReason = 8
        public static let exitUnion = 32
        public static let hypercallReturn = 88
        public static let size = 2352
        /// `kvm_valid_regs`, `kvm_dirty_regs` (u64 bit sets) and the synced
        /// register area `s` (KVM_CAP_SYNC_REGS), at the end of kvm_run.
        public static let validRegs = 288
        public static let dirtyRegs = 296
        public static let syncRegs = 304
    }

    /// Decodes an exit from the bytes of a `kvm_run` mapping and the result of
    /// `KVM_RUN` (0, or -errno). A memory fault arrives as -EFAULT/-EHWPOISON
    /// with `exit_reason` set, so `exit_reason` is looked at first. Any other
    /// failure is thrown with the ioctl's name.
    public static func decode(run: UnsafeRawBufferPointer, result: Int32) throws(KVMError) -> VCPUExit {
        precondition(run.count >= Layout.size, "kvm_run mapping is \(run.count) bytes, need \(Layout.size)")
        let reasonValue = run.loadUnaligned(fromByteOffset: Layout.exitReason, as: UInt32.self)
        let u = Layout.exitUnion
        if result < 0 {
            let error = -result
            if (error == EFAULT || error == EHWPOISON) && reasonValue == Reason.memoryFault.rawValue {
                return .memoryFault(MemoryFaultExit(
                    flags: run.loadUnaligned(fromByteOffset: u, as: UInt64.self),
                    gpa: run.loadUnaligned(fromByteOffset: u + 8, as: UInt64.self),
                    size: run.loadUnaligned(fromByteOffset: u + 16, as: UInt64.self)))
            }
            if error == EINTR { return .interrupted }
            throw KVMError("KVM_RUN", errno: error)
        }
        guard let reason = Reason(rawValue: reasonValue) else {
            return .unsupported(reason: "unknown exit reason \(reasonValue)")
        }
        switch reason {
        case .io:
            let direction = run.load(fromByteOffset: u, as: UInt8.self)
            let size = run.load(fromByteOffset: u + 1, as: UInt8.self)
            let port = run.loadUnaligned(fromByteOffset: u + 2, as: UInt16.self)
            let count = run.loadUnaligned(fromByteOffset: u + 4, as: UInt32.self)
            let rawOffset = run.loadUnaligned(fromByteOffset: u + 8, as: UInt64.self)
            let length = Int(size) * Int(count)
            // Bounds-checked in UInt64 before converting: a corrupted kvm_run
            // must give .unsupported, never a trap.
            guard direction <= 1, size == 1 || size == 2 || size == 4, length <= 4096, rawOffset <= UInt64(run.count),
                  UInt64(length) <= UInt64(run.count) - rawOffset else {
                return .unsupported(reason: "KVM_EXIT_IO with impossible direction \(direction), size \(size)×\(count) or data offset \(rawOffset)")
            }
            let dataOffset = Int(rawOffset)
            let data = direction == PortIO.Direction.out.rawValue ? Array(run[dataOffset..<dataOffset + length]) : []
            return .io(PortIO(direction: direction == 1 ? .out : .in, size: size, port: port, count: count,
                              dataOffset: dataOffset, data: data))
        case .mmio:
            let address = run.loadUnaligned(fromByteOffset: u, as: UInt64.self)
            let length = run.loadUnaligned(fromByteOffset: u + 16, as: UInt32.self)
            let isWrite = run.load(fromByteOffset: u + 20, as: UInt8.self) != 0
            guard length <= 8 else { return .unsupported(reason: "KVM_EXIT_MMIO with length \(length)") }
            let data = Array(run[(u + 8)..<(u + 8 + Int(length))])
            return .mmio(MMIOAccess(address: address, length: length, isWrite: isWrite, data: isWrite ? data : []))
        case .hlt:
            return .hlt
        case .hypercall:
            let args = (0..<6).map { run.loadUnaligned(fromByteOffset: u + 8 + 8 * $0, as: UInt64.self) }
            return .hypercall(HypercallExit(
                nr: run.loadUnaligned(fromByteOffset: u, as: UInt64.self), args: args,
                flags: run.loadUnaligned(fromByteOffset: u + 64, as: UInt64.self)))
        case .memoryFault:
            return .memoryFault(MemoryFaultExit(
                flags: run.loadUnaligned(fromByteOffset: u, as: UInt64.self),
                gpa: run.loadUnaligned(fromByteOffset: u + 8, as: UInt64.self),
                size: run.loadUnaligned(fromByteOffset: u + 16, as: UInt64.self)))
        case .systemEvent:
            let type = run.loadUnaligned(fromByteOffset: u, as: UInt32.self)
            let ndata = min(Int(run.loadUnaligned(fromByteOffset: u + 4, as: UInt32.self)), 16)
            let data = (0..<ndata).map { run.loadUnaligned(fromByteOffset: u + 8 + 8 * $0, as: UInt64.self) }
            return .systemEvent(SystemEvent(type: SystemEvent.Kind(rawValue: type), data: data))
        case .shutdown:
            return .shutdown
        case .internalError:
            let suberror = run.loadUnaligned(fromByteOffset: u, as: UInt32.self)
            let ndata = min(Int(run.loadUnaligned(fromByteOffset: u + 4, as: UInt32.self)), 16)
            let data = (0..<ndata).map { run.loadUnaligned(fromByteOffset: u + 8 + 8 * $0, as: UInt64.self) }
            return .internalError(suberror: suberror, data: data)
        case .failEntry:
            return .failEntry(reason: run.loadUnaligned(fromByteOffset: u, as: UInt64.self),
                              cpu: run.loadUnaligned(fromByteOffset: u + 8, as: UInt32.self))
        case .intr:
            return .interrupted
        default:
            return .unhandled(reason)
        }
    }
}

extension VCPUExit.Reason {
    /// "KVM_EXIT_DEBUG (4) is not handled by pvmh".
    public var unhandledDescription: String { "\(name) (\(rawValue)) is not handled by pvmh" }
}

/// A port I/O exit (x86).
public struct PortIO: Equatable, Sendable {
    public enum Direction: UInt8, Sendable { case `in` = 0, out = 1 }
    public var direction: Direction
    /// Bytes per access: 1, 2 or 4.
    public var size: UInt8
    public var port: UInt16
    public var count: UInt32
    /// Where the data lives inside `kvm_run` (IN data is written there).
    public var dataOffset: Int
    /// The bytes written by the guest (OUT only).
    public var data: [UInt8]

    public init(direction: Direction, size: UInt8, port: UInt16, count: UInt32, dataOffset: Int, data: [UInt8]) {
        self.direction = direction
        self.size = size
        self.port = port
        self.count = count
        self.dataOffset = dataOffset
        self.data = data
    }

    /// The first OUT value as a little-endian integer.
    public var value: UInt32 {
        data.prefix(Int(size)).enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
    }
}

/// An MMIO exit.
public struct MMIOAccess: Equatable, Sendable {
    public var address: UInt64
    public var length: UInt32
    public var isWrite: Bool
    public var data: [UInt8]

    public init(address: UInt64, length: UInt32, isWrite: Bool, data: [UInt8]) {
        self.address = address
        self.length = length
        self.isWrite = isWrite
        self.data = data
    }
}

/// `KVM_EXIT_HYPERCALL` payload.
public struct HypercallExit: Equatable, Sendable {
    public var nr: UInt64
    public var args: [UInt64]
    /// x86: bit 0 = guest in long mode. arm64 (SMCCC filter): bit 0 SMC, bit 1 16-bit.
    public var flags: UInt64

    public init(nr: UInt64, args: [UInt64], flags: UInt64) {
        self.nr = nr
        self.args = args
        self.flags = flags
    }
}

/// `KVM_EXIT_MEMORY_FAULT` payload.
public struct MemoryFaultExit: Equatable, Sendable {
    public static let flagPrivate: UInt64 = 0x8
    public var flags: UInt64
    public var gpa: UInt64
    public var size: UInt64
    public var isPrivate: Bool { flags & MemoryFaultExit.flagPrivate != 0 }

    public init(flags: UInt64, gpa: UInt64, size: UInt64) {
        self.flags = flags
        self.gpa = gpa
        self.size = size
    }
}

/// `KVM_EXIT_SYSTEM_EVENT` payload.
public struct SystemEvent: Equatable, Sendable {
    public struct Kind: RawRepresentable, Equatable, Sendable, CustomStringConvertible {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let shutdown = Kind(rawValue: 1)
        public static let reset = Kind(rawValue: 2)
        public static let crash = Kind(rawValue: 3)
        public var description: String {
            switch rawValue {
            case 1: "SHUTDOWN"
            case 2: "RESET"
            case 3: "CRASH"
            default: "system event \(rawValue)"
            }
        }
    }
    public var type: Kind
    public var data: [UInt64]

    public init(type: Kind, data: [UInt64]) {
        self.type = type
        self.data = data
    }
}
