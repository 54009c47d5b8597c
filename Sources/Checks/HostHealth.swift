import CKVM
import Glibc

/// Watches the kernel log for new WARN/BUG/oops lines between two points.
/// /dev/kmsg is read from its end at `start()`; where it cannot be read the
/// verdict says so instead of claiming health.
public final class KernelLogWatch {
    private var fd: Int32 = -1
    public private(set) var unavailableReason: String?

    public init() {}

    public func start() {
        let result = ckvm_open("/dev/kmsg", O_RDONLY | O_NONBLOCK)
        guard result >= 0 else {
            unavailableReason = "/dev/kmsg is not readable (\(String(cString: strerror(-result)))), so kernel health was not checked"
            return
        }
        fd = result
        lseek(fd, 0, SEEK_END)
    }

    /// New kernel log lines that report a warning, bug or oops since `start()`.
    public func newProblems() -> [String] {
        guard fd >= 0 else { return [] }
        var problems: [String] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EPIPE { continue }  // overwritten records: keep reading
            guard count > 0 else { break }
            let record = String(decoding: buffer.prefix(count), as: UTF8.self)
            let message = record.split(separator: ";", maxSplits: 1).last.map(String.init) ?? record
            let patterns = ["WARNING:", "BUG:", "Oops", "general protection fault", "kernel BUG", "Call Trace:", "RIP:"]
            if patterns.contains(where: { message.contains($0) }) {
                problems.append(message.split(separator: "\n").first.map(String.init) ?? message)
            }
        }
        return problems
    }

    deinit { if fd >= 0 { close(fd) } }
}

/// Guest memory as /proc/meminfo accounts it. guest_memfd pages are
/// unevictable, so the `Unevictable` counter moves by exactly the guest
/// memory a VM holds, and unlike MemAvailable it is not disturbed by
/// whatever else the machine is doing (measured: a 256 MiB gmem adds
/// 256 MiB there and gives it back when the file is released).
public enum MemoryAccounting {
    public static let counter = "Unevictable"

    /// Unevictable memory in bytes, or nil if unreadable.
    public static func held() -> UInt64? { field("Unevictable:") }

    /// The kernel may free a destroyed VM's memory asynchronously (deferred
    /// file release, RCU), so "memory came back" is polled: Unevictable
    /// must fall back to within `tolerance` of `baseline` before `timeout`.
    /// Returns the final shortfall in bytes (≤ tolerance means returned) and
    /// how long it took.
    public static func waitForReturn(to baseline: UInt64, tolerance: Int64, timeoutSeconds: Double = 3) -> (shortfall: Int64, waitedMilliseconds: Int) {
        var waited = 0
        while true {
            let shortfall = Int64(held() ?? baseline) - Int64(baseline)
            if shortfall <= tolerance || Double(waited) >= timeoutSeconds * 1000 { return (shortfall, waited) }
            usleep(20_000)
            waited += 20
        }
    }

    static func field(_ name: String) -> UInt64? {
        guard let file = fopen("/proc/meminfo", "re") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(cString: line)
            guard text.hasPrefix(name) else { continue }
            let number = text.dropFirst(name.count).trimmingCharacters(in: " kB\n")
            return UInt64(number).map { $0 * 1024 }
        }
        return nil
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        var text = Substring(self)
        while let first = text.first, characters.contains(first) { text = text.dropFirst() }
        while let last = text.last, characters.contains(last) { text = text.dropLast() }
        return String(text)
    }
}
