import Glibc

/// The signal that kicks a vCPU thread out of KVM_RUN (with immediate_exit
/// set first, so a kick that lands before KVM_RUN is not lost).
public let vcpuKickSignal = SIGUSR1

/// A dedicated thread running one vCPU's loop. It can be joined with a
/// timeout that fails loudly instead of hanging the VMM.
// @unchecked: the pthread handle and its finished flag are guarded by `lock`
// and `finishedCondition` (a pthread condition, which Mutex cannot wait on).
public final class VCPUThread: @unchecked Sendable {
    // @unchecked: handed to exactly one new thread, which alone calls `run`.
    private final class Body: @unchecked Sendable {
        let run: () -> Void
        let thread: VCPUThread
        init(run: @escaping () -> Void, thread: VCPUThread) {
            self.run = run
            self.thread = thread
        }
    }

    public let index: Int
    private var handle = pthread_t()
    private var lock = pthread_mutex_t()
    private var finishedCondition = pthread_cond_t()
    private var finishedFlag = false
    private var joined = false

    /// Starts `body` on a new thread with the kick signal unblocked.
    public init(index: Int, body: @escaping @Sendable () -> Void) throws(LifecycleError) {
        self.index = index
        pthread_mutex_init(&lock, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(&finishedCondition, &attributes)
        pthread_condattr_destroy(&attributes)
        VCPUKick.installHandler(vcpuKickSignal)
        let box = Unmanaged.passRetained(Body(run: body, thread: self))
        let result = pthread_create(&handle, nil, { raw in
            let box = Unmanaged<VCPUThread.Body>.fromOpaque(raw!).takeRetainedValue()
            VCPUKick.unblock(vcpuKickSignal)
            box.run()
            box.thread.markFinished()
            return nil
        }, box.toOpaque())
        if result != 0 {
            box.release()
            throw .platform("pthread_create for vCPU \(index) failed: \(String(cString: strerror(result))); lower --vcpus or raise the thread limit")
        }
    }

    deinit {
        pthread_cond_destroy(&finishedCondition)
        pthread_mutex_destroy(&lock)
    }

    private func markFinished() {
        pthread_mutex_lock(&lock)
        finishedFlag = true
        pthread_cond_broadcast(&finishedCondition)
        pthread_mutex_unlock(&lock)
    }

    public var isFinished: Bool {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return finishedFlag
    }

    /// Sends the kick signal (the caller has set immediate_exit).
    public func kick() {
        pthread_mutex_lock(&lock)
        let alive = !finishedFlag
        pthread_mutex_unlock(&lock)
        if alive { VCPUKick.kick(thread: UInt(handle), vcpuKickSignal) }
    }

    /// Waits up to `timeoutNanoseconds` for the loop to finish, then joins.
    /// Returns false if it did not finish in time (the thread is left
    /// running, and the caller reports it).
    public func join(timeoutNanoseconds: UInt64) -> Bool {
        let deadline = monotonicNanoseconds() + timeoutNanoseconds
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        pthread_mutex_lock(&lock)
        while !finishedFlag {
            if pthread_cond_timedwait(&finishedCondition, &lock, &ts) == ETIMEDOUT { break }
        }
        let finished = finishedFlag
        pthread_mutex_unlock(&lock)
        guard finished else { return false }
        if !joined {
            pthread_join(handle, nil)
            joined = true
        }
        return true
    }
}

/// A latch the lifecycle thread waits on: vCPU threads and the SIGINT/SIGTERM
/// handler signal it (an eventfd, so a signal handler can too).
public final class StopLatch: Sendable {
    private let event: EventFD
    public var fd: Int32 { event.fd }

    public init() throws(LifecycleError) {
        do {
            event = try EventFD()
        } catch {
            throw .platform("\(error); raise the open-file limit")
        }
    }

    public func signal() { event.signal() }

    /// Waits until signalled or `timeoutMilliseconds` passes (-1: forever).
    /// Returns true when signalled.
    public func wait(timeoutMilliseconds: Int32) -> Bool {
        event.wait(timeoutMilliseconds: timeoutMilliseconds)
    }
}

/// SIGINT/SIGTERM while a VM exists: recorded and turned into an orderly
/// teardown (once), not process death.
public enum StopSignals {
    public static func install(latch: StopLatch) { StopSignalHandlers.install(eventFD: latch.fd) }
    public static func restore() { StopSignalHandlers.restore() }
    /// The signal that asked us to stop, if any.
    public static var received: Int32? {
        let value = StopSignalHandlers.received
        return value == 0 ? nil : value
    }
    public static var count: Int { StopSignalHandlers.count }

    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        default: "signal \(signal)"
        }
    }
}

/// Teardown's first step: every vCPU still in the guest is asked to stop
/// (`requestStop` + a kick), and every thread is joined, re-kicked while
/// waiting because a kick can land between two `KVM_RUN`s.
enum VCPUStopper {
    static func stop(_ threads: [VCPUThread], platform: Platform, timeoutNanoseconds: UInt64,
                     running: (Int) -> Bool) throws(LifecycleError) -> String {
        for thread in threads where running(thread.index) {
            platform.requestStop(vcpu: thread.index)
            thread.kick()
        }
        var stuck: [Int] = []
        for thread in threads {
            var joined = false
            let deadline = monotonicNanoseconds() + timeoutNanoseconds
            while !joined && monotonicNanoseconds() < deadline {
                joined = thread.join(timeoutNanoseconds: 20_000_000)
                if !joined {
                    platform.requestStop(vcpu: thread.index)
                    thread.kick()
                }
            }
            if !joined { stuck.append(thread.index) }
        }
        if !stuck.isEmpty {
            throw .teardown("vCPU \(stuck.map(String.init).joined(separator: ", ")) did not stop within \(timeoutNanoseconds / 1_000_000) ms of being kicked; the VM cannot be torn down safely")
        }
        return "\(threads.count) vCPU thread\(threads.count == 1 ? "" : "s") joined"
    }
}
