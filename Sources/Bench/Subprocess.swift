import Glibc
import System

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
    /// still running after `timeoutSeconds` is killed. The timing spans the
    /// spawn to the reaping waitpid (System.ChildProcess waits blocking, so
    /// no polling period is added).
    static func run(_ executable: String, _ arguments: [String], captureOutput: Bool = false,
                    timeoutSeconds: Double = 60) -> Result<ProcessOutcome, BenchFailure> {
        let start = monotonicNanoseconds()
        let child: ChildProcess
        do {
            child = try ChildProcess(executable, arguments, captureOutput: captureOutput)
        } catch {
            return .failure(BenchFailure("cannot start \(executable): \(error)"))
        }
        child.readToEnd()
        let end = child.wait(seconds: timeoutSeconds)
        let elapsed = Double(monotonicNanoseconds() - start)
        guard end.finished else {
            return .failure(BenchFailure("\(executable) did not finish within \(Int(timeoutSeconds)) s and was killed"))
        }
        return .success(ProcessOutcome(exitCode: end.exitCode, signal: end.signal, wallNanoseconds: elapsed, output: child.output))
    }
}

/// Why a measurement could not be taken: one sentence.
public struct BenchFailure: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
