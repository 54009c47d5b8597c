import Glibc

/// A finished child process: its exit status (or the signal that killed it)
/// and everything it wrote.
struct ProcessResult {
    var exitCode: Int32?
    var signal: Int32?
    var out: String
    var err: String
    var timedOut: Bool

    var summary: String {
        let how = timedOut ? "timed out" : exitCode.map { "exit \($0)" } ?? "signal \(signal ?? 0)"
        return "\(how)\n--- stdout\n\(out)--- stderr\n\(err)"
    }
}

/// Runs the built `pvmh` binary as a child with stdout and stderr on pipes.
enum Subprocess {
    /// The pvmh executable of this build. `swift test` runs the test bundle
    /// from the build's configuration directory (e.g. .build-tests/debug), and
    /// PVMHTests depends on the pvmh product, so pvmh sits next to argv[0].
    static func pvmhExecutable(filePath: String = #filePath) -> String? {
        var candidates: [String] = []
        if let first = CommandLine.arguments.first, let resolved = realpath(first, nil) {
            let path = String(cString: resolved)
            free(resolved)
            candidates.append(directory(of: path) + "/pvmh")
        }
        // Fallback: <package>/Tests/PVMHTests/<file> → <package>/.build*/debug/pvmh.
        let root = directory(of: directory(of: directory(of: filePath)))
        for build in [".build-tests", ".build"] { candidates.append("\(root)/\(build)/debug/pvmh") }
        return candidates.first { access($0, X_OK) == 0 }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }

    /// A signal to send: `number`, `delay` seconds after the child's stdout
    /// or stderr first contains `after` ("" means: as soon as it is spawned).
    typealias PlannedSignal = (number: Int32, after: String, delay: Double)

    /// Spawns `executable arguments…`, waits at most `timeout` seconds (then
    /// SIGKILLs it, so a hung child fails the test instead of hanging it).
    /// With `signal` (and then each of `signals`, in order, each armed once
    /// the previous one was sent), sends `number` to the child `delay`
    /// seconds after its output first contains `after`. `blockedSignals` are
    /// blocked in the child from its first instruction (a signal sent then
    /// stays pending until the child unblocks it).
    static func run(_ executable: String, _ arguments: [String], timeout: Double = 60,
                    signal: PlannedSignal? = nil, signals more: [PlannedSignal] = [],
                    blockedSignals: [Int32] = []) throws -> ProcessResult {
        var plan = (signal.map { [$0] } ?? []) + more
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        // Glibc's Swift module lacks pipe2 (it is _GNU_SOURCE): pipe, then close-on-exec,
        // so a child spawned concurrently elsewhere cannot hold our write ends open.
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw TestFailure("pipe failed: errno \(errno)") }
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let environment = Subprocess.environment()
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }

        // The child gets default signal handling and an empty mask, whatever
        // the test runner's threads block.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t(), defaults = sigset_t()
        sigemptyset(&empty)
        for blocked in blockedSignals { sigaddset(&empty, blocked) }
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGPIPE, SIGUSR1] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        close(outPipe[1])
        close(errPipe[1])
        guard spawned == 0 else {
            close(outPipe[0])
            close(errPipe[0])
            throw TestFailure("posix_spawn \(executable) failed: errno \(spawned)")
        }

        var out: [UInt8] = [], err: [UInt8] = []
        var open = [outPipe[0], errPipe[0]]
        var timedOut = false
        let deadline = now() + timeout
        var buffer = [UInt8](repeating: 0, count: 65536)
        var signalAt: Double?
        while !open.isEmpty {
            if let next = plan.first {
                if signalAt == nil, next.after.isEmpty || String(decoding: out + err, as: UTF8.self).contains(next.after) {
                    signalAt = now() + next.delay
                }
                if let at = signalAt, now() >= at {
                    kill(pid, next.number)
                    plan.removeFirst()
                    signalAt = nil
                    continue
                }
            }
            let remaining = deadline - now()
            if remaining <= 0 {
                timedOut = true
                kill(pid, SIGKILL)
                break
            }
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), Int32(min(remaining, plan.isEmpty ? 1 : 0.005) * 1000))
            if ready < 0 && errno == EINTR { continue }
            guard ready >= 0 else { break }
            for entry in fds where entry.revents != 0 {
                let count = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    if entry.fd == outPipe[0] { out += buffer.prefix(count) } else { err += buffer.prefix(count) }
                } else if count == 0 || errno != EINTR {
                    close(entry.fd)
                    open.removeAll { $0 == entry.fd }
                }
            }
        }
        open.forEach { close($0) }

        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exited = status & 0x7F == 0
        return ProcessResult(exitCode: exited ? (status >> 8) & 0xFF : nil, signal: exited ? nil : status & 0x7F,
                             out: String(decoding: out, as: UTF8.self), err: String(decoding: err, as: UTF8.self),
                             timedOut: timedOut)
    }

    /// This process's environment, read from /proc (Swift 6 forbids touching `environ`).
    static func environment() -> [String] {
        guard let bytes = readFile("/proc/self/environ") else { return [] }
        return bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
