import Glibc
import PVMHCommand

/// What one in-process `PVMH.main` call printed and returned.
struct CLIResult {
    var status: Int32
    var out: String
    var err: String

    var outLines: [Substring] { out.split(separator: "\n", omittingEmptySubsequences: false).dropLast() }
    var errLines: [Substring] { err.split(separator: "\n", omittingEmptySubsequences: false).dropLast() }
}

/// Collects what Output writes (Output serialises its own calls; the lock
/// here only protects the strings while the test reads them).
private final class Capture: @unchecked Sendable {
    private var lock = pthread_mutex_t()
    private var outText = ""
    private var errText = ""

    init() { pthread_mutex_init(&lock, nil) }
    deinit { pthread_mutex_destroy(&lock) }

    func appendOut(_ text: String) { locked { outText += text } }
    func appendErr(_ text: String) { locked { errText += text } }
    var texts: (String, String) { locked { (outText, errText) } }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return body()
    }
}

/// Runs `pvmh ARGUMENTS…` in this process with captured output.
func pvmh(_ arguments: String...) -> CLIResult {
    pvmh(arguments)
}

func pvmh(_ arguments: [String]) -> CLIResult {
    let capture = Capture()
    let output = Output(out: { capture.appendOut($0) }, err: { capture.appendErr($0) })
    let status = PVMH.main(arguments: arguments, output: output)
    let (out, err) = capture.texts
    return CLIResult(status: status, out: out, err: err)
}

/// A scratch directory under /tmp, removed with everything in it.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/pvmh-tests-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw TestFailure("mkdtemp failed: errno \(errno)")
        }
        path = String(cString: made)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Writes `bytes` to `name` and returns its path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let target = file(name)
        guard let handle = fopen(target, "we") else { throw TestFailure("cannot create \(target)") }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, handle) }
        fclose(handle)
        guard written == bytes.count else { throw TestFailure("short write to \(target)") }
        return target
    }

    deinit {
        // Only this directory's own files and one level of subdirectories.
        guard let dir = opendir(path) else { return }
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            let child = "\(path)/\(name)"
            if unlink(child) != 0 { rmdir(child) }
        }
        closedir(dir)
        rmdir(path)
    }
}

/// Reads a whole file, or nil.
func readFile(_ path: String) -> [UInt8]? {
    guard let handle = fopen(path, "re") else { return nil }
    defer { fclose(handle) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, handle) }
        if count == 0 { break }
        bytes += buffer.prefix(count)
    }
    return bytes
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
