import Glibc

/// Where the CLI writes. Tests capture it; the executable uses stdout/stderr.
// @unchecked: writes go to file descriptors (thread-safe) or, in tests, to a
// capture guarded by its own lock.
public final class Output: @unchecked Sendable {
    private var lock = pthread_mutex_t()
    private let writeOut: (String) -> Void
    private let writeErr: (String) -> Void

    public init(out: @escaping (String) -> Void, err: @escaping (String) -> Void) {
        writeOut = out
        writeErr = err
        pthread_mutex_init(&lock, nil)
    }

    /// stdout and stderr, flushed per line so interleaving with the guest console stays readable.
    public static func standard() -> Output {
        Output(out: { writeAll(1, $0) }, err: { writeAll(2, $0) })
    }

    public func line(_ text: String = "") {
        pthread_mutex_lock(&lock)
        writeOut(text + "\n")
        pthread_mutex_unlock(&lock)
    }

    public func error(_ text: String) {
        pthread_mutex_lock(&lock)
        writeErr(text + "\n")
        pthread_mutex_unlock(&lock)
    }
}

/// write(2) until done: no stdio buffering to interleave badly with a guest console.
func writeAll(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        offset += n
    }
    bytes.removeAll()
}

/// Formatting for humans (only the CLI formats).
enum Format {
    static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    static func bytes(_ value: UInt64) -> String {
        let units: [(UInt64, String)] = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
        for (size, unit) in units where value >= size && value % size == 0 { return "\(value / size) \(unit)" }
        for (size, unit) in units where value >= size { return "\(fixed(Double(value) / Double(size), 1)) \(unit)" }
        return "\(value) B"
    }

    static func duration(_ nanoseconds: UInt64) -> String {
        if nanoseconds >= 1_000_000_000 { return "\(fixed(Double(nanoseconds) / 1e9, 2)) s" }
        if nanoseconds >= 1_000_000 { return "\(fixed(Double(nanoseconds) / 1e6, 2)) ms" }
        return "\(fixed(Double(nanoseconds) / 1e3, 1)) µs"
    }

    /// `value` with `digits` decimals, without Foundation.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var text = String(rounded)
        if let dot = text.firstIndex(of: ".") {
            let decimals = text.distance(from: dot, to: text.endIndex) - 1
            if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
            if digits == 0 { text = String(text[..<dot]) }
        } else if digits > 0 {
            text += "." + String(repeating: "0", count: digits)
        }
        return text
    }

    static func padded(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
