import CKVM

/// The signal that kicks a vCPU thread out of KVM_RUN (EINTR).
public enum VCPUKick {
    /// Installs the do-nothing handler (no SA_RESTART, so KVM_RUN returns EINTR).
    public static func installHandler(_ signal: Int32) { _ = ckvm_install_kick_handler(signal) }
    /// Unblocks `signal` in the calling thread.
    public static func unblock(_ signal: Int32) { _ = ckvm_unblock_signal(signal) }
    /// Sends `signal` to a thread.
    public static func kick(thread: UInt, _ signal: Int32) { _ = ckvm_kick_thread(thread, signal) }
}

/// SIGINT/SIGTERM while a VM exists: the first is recorded and signals an
/// eventfd; later ones are counted. The handlers are C (async-signal-safe).
public enum StopSignalHandlers {
    public static func install(eventFD: Int32) { _ = ckvm_install_stop_handlers(eventFD) }
    public static func restore() { ckvm_restore_stop_handlers() }
    /// The first stop signal received, or 0.
    public static var received: Int32 { ckvm_stop_signal() }
    public static var count: Int { Int(ckvm_stop_signal_count()) }
}

/// An eventfd: a latch a signal handler may signal too.
public final class EventFD: Sendable {
    public let fd: Int32

    public init() throws(SystemError) {
        let result = ckvm_eventfd()
        if result < 0 { throw SystemError("eventfd", errno: -result) }
        fd = result
    }

    deinit { _ = ckvm_close(fd) }

    public func signal() { _ = ckvm_eventfd_signal(fd) }

    /// Waits until signalled or `timeoutMilliseconds` passes (-1: forever); true when signalled.
    public func wait(timeoutMilliseconds: Int32) -> Bool {
        ckvm_eventfd_wait(fd, timeoutMilliseconds) > 0
    }
}

/// Bytes other threads set and read with sequentially consistent stores and
/// loads (a vCPU's "stop requested" and "inside KVM_RUN" flags).
// @unchecked: the storage is raw memory touched only through atomic C
// loads and stores; the pointer itself never changes.
public final class AtomicFlags: @unchecked Sendable {
    private let storage: UnsafeMutablePointer<UInt8>
    public let count: Int

    public init(count: Int) {
        self.count = count
        storage = .allocate(capacity: max(count, 1))
        storage.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { storage.deallocate() }

    public subscript(index: Int) -> Bool {
        get { ckvm_load_u8_volatile(storage + index) != 0 }
        set { ckvm_store_u8_volatile(storage + index, newValue ? 1 : 0) }
    }
}
