import CKVM
import Glibc

/// A child pvmh process the regression suite kills or lets exit, so it can
/// check what the kernel does when a VMM dies without tearing down.
final class ChildProcess {
    let pid: pid_t
    private let outFD: Int32
    private(set) var output = ""

    /// Spawns `executable arguments…` with stdout on a pipe (stderr to
    /// /dev/null), default signal handling and an empty signal mask.
    init(_ executable: String, _ arguments: [String]) throws(LifecycleFailure) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw LifecycleFailure("pipe failed: \(String(cString: strerror(errno)))") }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
        defer { envp.forEach { free($0) } }
        var child: pid_t = 0
        let result = ckvm_spawn_clean(executable, argv, envp, fds[1], &child)
        close(fds[1])
        guard result == 0 else {
            close(fds[0])
            throw LifecycleFailure("cannot start \(executable): \(String(cString: strerror(result)))")
        }
        pid = child
        outFD = fds[0]
    }

    deinit {
        close(outFD)
        if pid > 0 { kill(pid, SIGKILL); var status: Int32 = 0; waitpid(pid, &status, WNOHANG) }
    }

    /// Reads stdout until `marker` appears, the pipe closes, or `seconds` pass.
    func waitForOutput(_ marker: String, seconds: Double) -> Bool {
        let deadline = now() + seconds
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !output.contains(marker) {
            let left = deadline - now()
            if left <= 0 { return false }
            var entry = pollfd(fd: outFD, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, Int32(left * 1000) + 1)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { return false }
            let count = buffer.withUnsafeMutableBytes { read(outFD, $0.baseAddress, $0.count) }
            if count <= 0 { return output.contains(marker) }
            output += String(decoding: buffer.prefix(count), as: UTF8.self)
        }
        return true
    }

    /// Waits for the child; returns (exit code, or nil) and the signal that ended it.
    func wait(seconds: Double) -> (exitCode: Int32?, signal: Int32?, finished: Bool) {
        let deadline = now() + seconds
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            if result < 0 && errno != EINTR { return (nil, nil, false) }
            if now() > deadline {
                kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                return (nil, SIGKILL, false)
            }
            usleep(2000)
        }
        let exited = status & 0x7F == 0
        return (exited ? (status >> 8) & 0xFF : nil, exited ? nil : status & 0x7F, true)
    }

    private func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// A one-sentence failure of the suite's own machinery.
struct LifecycleFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
