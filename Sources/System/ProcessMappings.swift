import Glibc

/// The kernel's own record of this process's mappings (/proc/self/maps):
/// what an `mprotect` really left, read back rather than remembered.
public enum ProcessMappings {
    /// One mapping (a VMA): its address range and whether it is readable.
    public struct Region: Equatable, Sendable {
        public var range: Range<UInt>
        public var readable: Bool
        public var writable: Bool
    }

    /// The regions overlapping `range`, clipped to it, in address order; nil
    /// when /proc/self/maps cannot be read.
    public static func regions(overlapping range: Range<UInt>) -> [Region]? {
        guard let text = readMaps() else { return nil }
        var regions: [Region] = []
        for line in text.split(separator: "\n") {
            // "start-end perms offset dev inode [path]", addresses in hex.
            let fields = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
            guard fields.count >= 2 else { continue }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16) else { continue }
            let lower = max(start, range.lowerBound), upper = min(end, range.upperBound)
            guard lower < upper else { continue }
            let permissions = Array(fields[1].utf8)
            regions.append(Region(range: lower..<upper, readable: permissions.first == UInt8(ascii: "r"),
                                  writable: permissions.count > 1 && permissions[1] == UInt8(ascii: "w")))
        }
        return regions
    }

    private static func readMaps() -> String? {
        let fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { return nil }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
