import Lifecycle
import Glibc

/// Watches the kernel log for new WARN/BUG/oops lines between two points.
/// /dev/kmsg is read from its end at `start()`; where it cannot be read the
/// verdict says so instead of claiming health.
public final class KernelLogWatch {
    private var fd: Int32 = -1
    public private(set) var unavailableReason: String?

    public init() {}

    public func start() {
        let result = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard result >= 0 else {
            unavailableReason = "/dev/kmsg is not readable (\(String(cString: strerror(errno)))), so kernel health was not checked"
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
            // x86 and arm64 spellings (arm64 prints "Unable to handle kernel
            // …", "Internal error: Oops" and "Call trace:").
            let patterns = ["WARNING:", "BUG:", "Oops", "general protection fault", "kernel BUG", "Call Trace:", "RIP:",
                            "Unable to handle kernel", "Internal error:", "Call trace:"]
            if patterns.contains(where: { message.contains($0) }) {
                problems.append(message.split(separator: "\n").first.map(String.init) ?? message)
            }
        }
        return problems
    }

    deinit { if fd >= 0 { close(fd) } }
}

/// The /proc/meminfo counter that moves by the guest memory a KVM platform
/// holds, so "the memory came back" can be checked without the noise of
/// MemAvailable.
public enum MemoryCounter: String, Sendable {
    /// guest_memfd pages are unevictable, so `Unevictable` moves by exactly
    /// the guest memory a VM holds (measured on x86_64: a 256 MiB gmem adds
    /// 256 MiB there and gives it back when the file is released). The gmem
    /// platforms (x86_64-gmem, arm64-gmem).
    case unevictable = "Unevictable"
    /// arm64-pkvm's guest RAM is a memfd, i.e. shmem pages. pKVM pins the
    /// pages the guest touches (FOLL_PIN, see `PinnedPages`) but neither
    /// mlocks them nor makes them unevictable: measured on Linux 7.3 in the
    /// QEMU pKVM lane, `Unevictable` and `Mlocked` do not move at all.
    case shmem = "Shmem"

    /// The counter a platform's guest memory moves: memfd memory (the memfd
    /// platforms, pKVM protected VMs) is shmem; guest_memfd and the model's
    /// memory show as unevictable.
    public static func forPlatform(_ traits: PlatformTraits) -> MemoryCounter {
        traits.memory == .memfd ? .shmem : .unevictable
    }
}

/// Guest memory as /proc/meminfo accounts it, in the counter the platform
/// moves (`MemoryCounter`).
public enum MemoryAccounting {
    /// The counter in bytes, or nil if unreadable.
    public static func held(_ counter: MemoryCounter = .unevictable) -> UInt64? { field(counter.rawValue + ":") }

    /// The kernel may free a destroyed VM's memory asynchronously (deferred
    /// file release, RCU), so "memory came back" is polled: the counter
    /// must fall back to within `tolerance` of `baseline` before `timeout`.
    /// Returns the final shortfall in bytes (≤ tolerance means returned) and
    /// how long it took.
    public static func waitForReturn(to baseline: UInt64, tolerance: Int64, timeoutSeconds: Double = 3,
                                     counter: MemoryCounter = .unevictable) -> (shortfall: Int64, waitedMilliseconds: Int) {
        var waited = 0
        while true {
            let shortfall = Int64(held(counter) ?? baseline) - Int64(baseline)
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
            let text = String(fgetsLine: line)
            guard text.hasPrefix(name) else { continue }
            let number = text.dropFirst(name.count).trimmingCharacters(in: " kB\n")
            return UInt64(number).map { $0 * 1024 }
        }
        return nil
    }
}

/// Pages pinned with FOLL_PIN right now, system-wide: /proc/vmstat's
/// `nr_foll_pin_acquired` minus `nr_foll_pin_released`. pKVM pins every
/// page a protected guest touches (and unpins it when it reclaims the page
/// at teardown), so on arm64-pkvm this is the kernel's own count of guest
/// pages the hypervisor still holds: it must rise while the guest runs and
/// fall back once the VM is gone.
public enum PinnedPages {
    /// Whether the counts are exact. They are per-CPU and folded into
    /// /proc/vmstat in batches, so a few pages can hide in the batches;
    /// writing /proc/sys/vm/stat_refresh (root only) folds them first.
    /// Without it, the counts are noted but not judged.
    public static var isExact: Bool { access("/proc/sys/vm/stat_refresh", W_OK) == 0 }

    public static func current() -> Int64? {
        if let refresh = fopen("/proc/sys/vm/stat_refresh", "we") {
            fputs("1\n", refresh)
            fclose(refresh)
        }
        guard let file = fopen("/proc/vmstat", "re") else { return nil }
        defer { fclose(file) }
        var acquired: Int64?, released: Int64?
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(fgetsLine: line)
            let parts = text.split(separator: " ")
            guard parts.count == 2, let value = Int64(parts[1].trimmingCharacters(in: "\n")) else { continue }
            if parts[0] == "nr_foll_pin_acquired" { acquired = value }
            if parts[0] == "nr_foll_pin_released" { released = value }
        }
        guard let acquired, let released else { return nil }
        return acquired - released
    }

    /// Polls until the count is back at or below `baseline` (unpinning
    /// follows the VM's last reference, which may be dropped a little
    /// later); returns how many pages are still pinned above it.
    public static func waitForReturn(to baseline: Int64, timeoutSeconds: Double = 3) -> Int64 {
        var waited = 0.0
        while true {
            let above = (current() ?? baseline) - baseline
            if above <= 0 || waited >= timeoutSeconds { return max(above, 0) }
            usleep(20_000)
            waited += 0.02
        }
    }
}

extension String {
    /// The text `fgets` left in `buffer`, up to its NUL. (`String(cString:)`
    /// on an array is deprecated as of Swift 6.2.)
    init(fgetsLine buffer: [CChar]) {
        self = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
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
