import CKVM
import Glibc

/// A child process started with a clean signal state (stdin and stderr on
/// /dev/null, an empty signal mask, default SIGINT/SIGTERM/SIGPIPE/SIGUSR1,
/// whatever this process set up) and stdout on a pipe or /dev/null. The one
/// subprocess runner: the regression suite's child VMMs and the benchmarks'
/// timed processes both use it.
public final class ChildProcess {
    public let pid: pid_t
    private var outFD: Int32
    /// Standard output read so far (when captured).
    public private(set) var output = ""
    private var reaped = false

    /// How a child ended.
    public struct Exit: Equatable, Sendable {
        /// The exit status, or nil when a signal ended it.
        public var exitCode: Int32?
        public var signal: Int32?
        /// False when the timeout ran out and the child was killed.
        public var finished: Bool
    }

    /// Starts `executable arguments…`; `environment` nil passes this process's.
    public init(_ executable: String, _ arguments: [String], environment: [String]? = nil,
                captureOutput: Bool = true) throws(SystemError) {
        var fds: [Int32] = [-1, -1]
        if captureOutput {
            guard pipe(&fds) == 0 else { throw SystemError("pipe", errno: errno) }
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup($0) } + [nil] }
        defer { envp?.forEach { free($0) } }
        var child: pid_t = 0
        let result = envp.map { envp in ckvm_spawn_clean(executable, argv, envp, captureOutput ? fds[1] : -1, &child) }
            ?? ckvm_spawn_clean(executable, argv, nil, captureOutput ? fds[1] : -1, &child)
        if captureOutput { close(fds[1]) }
        guard result == 0 else {
            if captureOutput { close(fds[0]) }
            throw SystemError("posix_spawn(\(executable))", errno: result)
        }
        pid = child
        outFD = fds[0]
    }

    deinit {
        if outFD >= 0 { close(outFD) }
        if !reaped, pid > 0 {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }

    /// Reads stdout until `marker` appears, the pipe closes, or `seconds` pass.
    public func waitForOutput(_ marker: String, seconds: Double) -> Bool {
        let deadline = monotonicNanoseconds() + UInt64(seconds * 1e9)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !output.contains(marker) {
            let now = monotonicNanoseconds()
            guard outFD >= 0, now < deadline else { return false }
            var entry = pollfd(fd: outFD, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, Int32((deadline - now) / 1_000_000) + 1)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { return false }
            let count = buffer.withUnsafeMutableBytes { read(outFD, $0.baseAddress, $0.count) }
            if count <= 0 { return output.contains(marker) }
            output += String(decoding: buffer.prefix(count), as: UTF8.self)
        }
        return true
    }

    /// Reads stdout to its end (the child closed it or exited).
    public func readToEnd() {
        guard outFD >= 0 else { return }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(outFD, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        output += String(decoding: bytes, as: UTF8.self)
        close(outFD)
        outFD = -1
    }

    /// Waits for the child with a blocking waitpid, which returns the moment
    /// it exits (polling would add its own period to every timing); a
    /// watchdog thread kills a child still running after `seconds`.
    public func wait(seconds: Double) -> Exit {
        let watchdog = Watchdog(pid: pid, timeoutNanoseconds: UInt64(max(0, seconds) * 1e9))
        var status: Int32 = 0
        var waited = true
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { waited = false; break }
        }
        let killed = watchdog.finish()
        reaped = true
        guard waited else { return Exit(exitCode: nil, signal: nil, finished: false) }
        let exited = status & 0x7F == 0
        return Exit(exitCode: exited ? (status >> 8) & 0xFF : nil, signal: exited ? nil : status & 0x7F, finished: !killed)
    }
}

/// Kills `pid` if `finish()` is not called within the timeout.
// @unchecked: its state is guarded by `lock` and `condition` (a pthread condition
// with a deadline, which Mutex cannot wait on).
private final class Watchdog: @unchecked Sendable {
    private var lock = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var done = false
    private var fired = false
    private var thread = pthread_t()
    private let pid: pid_t
    private let deadline: timespec

    init(pid: pid_t, timeoutNanoseconds: UInt64) {
        self.pid = pid
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let total = UInt64(now.tv_nsec) + timeoutNanoseconds
        deadline = timespec(tv_sec: now.tv_sec + Int(total / 1_000_000_000), tv_nsec: Int(total % 1_000_000_000))
        pthread_mutex_init(&lock, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(&condition, &attributes)
        pthread_condattr_destroy(&attributes)
        let box = Unmanaged.passRetained(self)
        pthread_create(&thread, nil, { raw in
            Unmanaged<Watchdog>.fromOpaque(raw!).takeRetainedValue().watch()
            return nil
        }, box.toOpaque())
    }

    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&lock)
    }

    private func watch() {
        pthread_mutex_lock(&lock)
        var deadline = self.deadline
        while !done {
            if pthread_cond_timedwait(&condition, &lock, &deadline) == ETIMEDOUT && !done {
                fired = true
                kill(pid, SIGKILL)
                break
            }
        }
        pthread_mutex_unlock(&lock)
    }

    /// Stops the watchdog; true if it had to kill the child.
    @discardableResult
    func finish() -> Bool {
        pthread_mutex_lock(&lock)
        done = true
        pthread_cond_signal(&condition)
        pthread_mutex_unlock(&lock)
        pthread_join(thread, nil)
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return fired
    }
}
