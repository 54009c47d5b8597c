import Glibc
import KVM
import Lifecycle
import System

/// Guest RAM for a pKVM protected VM: swap-backed `MAP_SHARED` memory (a
/// memfd), mapped once, marked `MADV_DONTFORK`.
///
/// Why each choice (Docs/kvm-abi.md, "pKVM page ownership"): pKVM pins guest memory through the
/// host mapping and rejects memory that is not swap-backed (guest_memfd gets
/// EIO on the first KVM_RUN); a `fork()` while private guest memory is mapped
/// `MAP_PRIVATE` makes the kernel copy pinned pages, which the hypervisor
/// force-reclaims, and the VM dies with EFAULT. `MAP_SHARED` memory is never
/// copied, and `MADV_DONTFORK` keeps it out of any child altogether.
// @unchecked: the mapping and fd are immutable until `release` in teardown, on
// the lifecycle thread after the vCPUs are joined.
public final class ARM64GuestMemory: @unchecked Sendable {
    /// The memfd backing the mapping.
    public private(set) var file: OwnedFileDescriptor?
    public let mapping: HostMapping
    public let size: UInt64
    /// "memfd", for the journal.
    public let backing: String

    /// Creates `size` bytes (page aligned) of zeroed guest memory;
    /// `preallocate` allocates every page now (so the memory the VM holds is
    /// visible in `Shmem` from the start).
    public init(size: UInt64, preallocate: Bool = false) throws(KVMError) {
        self.size = size
        let memfd = try SharedMemoryFile(size: size)
        let fd = memfd.fd
        if preallocate { try memfd.allocate(offset: 0, length: size) }
        mapping = try HostMapping(length: Int(size), protection: [.read, .write], fd: fd.rawValue, offset: 0, what: "guest RAM (memfd)")
        backing = "memfd"
        file = fd
        if madvise(mapping.address(), Int(size), MADV_DONTFORK) != 0 {
            throw KVMError("madvise(guest RAM, MADV_DONTFORK)", errno: errno)
        }
    }

    public var isMapped: Bool { mapping.isMapped }

    /// Copies `bytes` in at byte `offset`.
    public func write(_ bytes: [UInt8], at offset: UInt64) {
        precondition(offset + UInt64(bytes.count) <= size, "write past the end of guest RAM")
        bytes.withUnsafeBytes { source in
            if let base = source.baseAddress {
                mapping.address(at: Int(offset)).copyMemory(from: base, byteCount: source.count)
            }
        }
    }

    /// What a host read of the byte at `offset` does, probed in this process
    /// with a guarded SIGSEGV/SIGBUS handler: never by forking, which would
    /// be exactly the hazard this memory is set up to avoid.
    public func probe(offset: UInt64) -> HostAccess {
        guard mapping.isMapped, offset < size else { return .unmapped }
        return GuardedHostRead.probe(mapping.address(at: Int(offset)))
    }

    public func probe(offsets: [UInt64]) -> [HostAccess] {
        GuardedHostRead.probe(offsets.map { offset in
            mapping.isMapped && offset < size ? UnsafeRawPointer(mapping.address(at: Int(offset))) : nil
        })
    }

    /// Unmaps and closes, reporting every failure.
    public func release() throws(KVMError) {
        var first: KVMError?
        if mapping.isMapped {
            do { try mapping.unmap() } catch { first = error }
        }
        if let file, file.isOpen {
            do { try file.close() } catch { first = first ?? error }
        }
        if let first { throw first }
    }

    /// What is still held, by name.
    public var openResources: [String] {
        var open: [String] = []
        if mapping.isMapped { open.append(mapping.what) }
        if let file, file.isOpen { open.append(file.kind) }
        return open
    }
}

/// A one-byte host read that cannot crash the VMM.
public enum GuardedHostRead {
    /// Reads the byte at `address` under a guarded SIGSEGV/SIGBUS handler.
    public static func probe(_ address: UnsafeRawPointer) -> HostAccess {
        HostAccess(GuardedRead.inProcess(address))
    }

    /// Many reads under one handler install; nil addresses are `.unmapped`.
    public static func probe(_ addresses: [UnsafeRawPointer?]) -> [HostAccess] {
        let mapped = addresses.compactMap { $0 }
        var outcomes = GuardedRead.inProcess(mapped).makeIterator()
        return addresses.map { $0 == nil ? .unmapped : HostAccess(outcomes.next()!) }
    }
}

extension HostAccess {
    /// What a guarded read found, in the lifecycle's words.
    init(_ outcome: GuardedRead.Outcome) {
        switch outcome {
        case .readable(let byte): self = .readable(byte)
        case .faulted(let signal, let code): self = .faulted(signal: signal, code: code)
        }
    }
}

/// The locked-memory budget a protected VM needs: pKVM pins every page the
/// guest faults in and charges it to RLIMIT_MEMLOCK (Docs/kvm-abi.md), unless the
/// process has CAP_IPC_LOCK.
public struct MemlockBudget: Equatable, Sendable {
    /// The soft limit in bytes; nil = unlimited.
    public var limit: UInt64?
    /// Whether the process holds CAP_IPC_LOCK (the limit does not apply).
    public var hasIPCLock: Bool

    public init(limit: UInt64?, hasIPCLock: Bool) {
        self.limit = limit
        self.hasIPCLock = hasIPCLock
    }

    /// This process's budget.
    public static func current() -> MemlockBudget {
        var limits = rlimit()
        let soft: UInt64? = getrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &limits) == 0
            ? (limits.rlim_cur == rlim_t.max ? nil : UInt64(limits.rlim_cur)) : nil
        let status = (try? ProcFile.read("/proc/self/status")) ?? ""
        return MemlockBudget(limit: soft, hasIPCLock: hasCapability(14, inStatus: status))
    }

    /// Whether capability bit `bit` is in the `CapEff:` line of /proc/PID/status text.
    public static func hasCapability(_ bit: Int, inStatus status: String) -> Bool {
        for line in status.split(separator: "\n") where line.hasPrefix("CapEff:") {
            let hex = line.dropFirst("CapEff:".count).trimmed(of: " \t")
            guard let mask = UInt64(hex, radix: 16) else { return false }
            return mask & (1 << UInt64(bit)) != 0
        }
        return false
    }

    /// nil when `bytes` of guest RAM can be pinned, else the one-sentence
    /// error: how much is needed and how to raise the limit.
    public func refusal(forGuestRAM bytes: UInt64) -> String? {
        guard !hasIPCLock, let limit, limit < bytes else { return nil }
        let neededKiB = (bytes + 1023) / 1024
        return "a protected VM with \(MemlockBudget.format(bytes)) of RAM needs \(neededKiB) KiB of locked memory, but RLIMIT_MEMLOCK is \(MemlockBudget.format(limit)); raise it with `ulimit -l \(neededKiB)` (or run with CAP_IPC_LOCK) and try again"
    }

    /// "unlimited", "CAP_IPC_LOCK (no limit)" or the limit in KiB/MiB.
    public var description: String {
        if hasIPCLock { return "\(limit.map(MemlockBudget.format) ?? "unlimited") (not enforced: CAP_IPC_LOCK)" }
        return limit.map(MemlockBudget.format) ?? "unlimited"
    }

    static func format(_ bytes: UInt64) -> String {
        if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes % 1024 == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) bytes"
    }
}

/// Small text files under /proc and /sys.
enum ProcFile {
    struct Unreadable: Error {}

    /// The whole file as text (at most 64 KiB).
    static func read(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Unreadable() }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 65536 {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += buffer.prefix(count)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Substring {
    /// The text without leading and trailing characters from `set`.
    func trimmed(of set: String) -> String {
        let characters = Set(set)
        var view = self[...]
        while let first = view.first, characters.contains(first) { view = view.dropFirst() }
        while let last = view.last, characters.contains(last) { view = view.dropLast() }
        return String(view)
    }
}
