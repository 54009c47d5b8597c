import CKVM
import Glibc

/// A finished child process.
struct ProcessOutcome {
    /// Exit status, or nil when a signal ended it.
    var exitCode: Int32?
    var signal: Int32?
    /// From just before posix_spawn to just after waitpid.
    var wallNanoseconds: Double
    /// Standard output when captured.
    var output: String
}

enum Subprocess {
    /// Runs `executable arguments…` to completion with stdin and stderr on
    /// /dev/null and stdout captured (`captureOutput`) or discarded; a child
    /// still running after `timeoutSeconds` is killed.
    static func run(_ executable: String, _ arguments: [String], captureOutput: Bool = false,
                    timeoutSeconds: Double = 60) -> Result<ProcessOutcome, BenchFailure> {
        var fds: [Int32] = [-1, -1]
        if captureOutput {
            guard pipe(&fds) == 0 else { return .failure(BenchFailure("pipe failed: \(String(cString: strerror(errno)))")) }
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let start = nowNanoseconds()
        // A clean signal state, whatever this process set up (the vCPU kick
        // signal, blocked stop signals).
        let result = ckvm_spawn_clean(executable, argv, nil, captureOutput ? fds[1] : -1, &child)
        if captureOutput { close(fds[1]) }
        guard result == 0 else {
            if captureOutput { close(fds[0]) }
            return .failure(BenchFailure("cannot start \(executable): \(String(cString: strerror(result)))"))
        }
        var output: [UInt8] = []
        if captureOutput {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                output += buffer[0..<n]
            }
            close(fds[0])
        }
        // A blocking waitpid returns the moment the child exits (polling
        // would add its own period to every timing); a watchdog thread kills
        // a child that overruns.
        let watchdog = Watchdog(pid: child, timeoutNanoseconds: UInt64(timeoutSeconds * 1e9))
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 {
            if errno != EINTR {
                watchdog.finish()
                return .failure(BenchFailure("waitpid for \(executable) failed: \(String(cString: strerror(errno)))"))
            }
        }
        let killed = watchdog.finish()
        if killed {
            return .failure(BenchFailure("\(executable) did not finish within \(Int(timeoutSeconds)) s and was killed"))
        }
        let elapsed = Double(nowNanoseconds() - start)
        let exited = status & 0x7F == 0
        return .success(ProcessOutcome(exitCode: exited ? (status >> 8) & 0xFF : nil, signal: exited ? nil : status & 0x7F,
                                       wallNanoseconds: elapsed, output: String(decoding: output, as: UTF8.self)))
    }
}

/// Why a measurement could not be taken: one sentence.
public struct BenchFailure: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
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
