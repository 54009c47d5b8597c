/// A half-open range of guest frame numbers, `[start, start + count)`.
///
/// A guest frame number (GFN) is a guest physical address shifted right by the
/// page shift; pKVM tracks ownership per page, so the ledger never deals in
/// bytes. The range is plain data: it does not check itself, and the ledger
/// rejects empty ranges and ranges that run past the last representable frame
/// when they are used.
public struct GFNRange: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The first frame in the range.
    public var start: UInt64
    /// The number of frames in the range.
    public var count: UInt64

    /// Creates the range `[start, start + count)`.
    public init(start: UInt64, count: UInt64) {
        self.start = start
        self.count = count
    }

    /// Creates the range `[start, end)`.
    ///
    /// - Precondition: `start <= end`.
    public init(start: UInt64, end: UInt64) {
        precondition(start <= end, "a range's end must not precede its start")
        self.init(start: start, count: end - start)
    }

    /// The first frame after the range, `start + count`.
    ///
    /// Traps if `start + count` does not fit in `UInt64`. The ledger never asks
    /// for it on such a range: it rejects the range first (see
    /// ``isRepresentable``), because frame `UInt64.max` can never lie inside
    /// guest memory.
    public var end: UInt64 { start + count }

    /// Whether the range has no frames.
    public var isEmpty: Bool { count == 0 }

    /// Whether `start + count` fits in `UInt64`, that is, whether ``end`` can be
    /// computed.
    public var isRepresentable: Bool { !start.addingReportingOverflow(count).overflow }

    /// Whether `gfn` lies inside the range. Never traps, even when the range is
    /// not representable.
    public func contains(_ gfn: UInt64) -> Bool {
        gfn >= start && gfn - start < count
    }

    /// The end clamped to `UInt64.max`, for walks that must not trap on a range
    /// a caller built from untrusted numbers: every frame it cuts off lies past
    /// the last frame a ledger range can cover, so the walk stops at an
    /// uncovered frame before it matters.
    var saturatingEnd: UInt64 {
        let (sum, overflow) = start.addingReportingOverflow(count)
        return overflow ? .max : sum
    }

    /// `[0x100, 0x110)`: hexadecimal, half-open, as kernel traces print frames.
    public var description: String {
        if isRepresentable {
            return "[\(hex(start)), \(hex(end)))"
        }
        return "[\(hex(start)), \(hex(start)) + \(hex(count)) pages, past the last frame)"
    }
}

/// Formats a frame number the way kernel logs and traces do.
func hex(_ value: UInt64) -> String {
    "0x" + String(value, radix: 16)
}
