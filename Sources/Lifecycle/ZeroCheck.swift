import Ownership

/// What reading reclaimed memory back found: every page of the ranges is
/// covered; `bytesRead` counts what was actually read (a hole in a memfd is
/// zero by construction and needs no read).
public struct ZeroCheck: Equatable, Sendable {
    public var pages: UInt64 = 0
    public var bytesRead: UInt64 = 0
    /// Pages the backing file reports as holes (zero without a read).
    public var holePages: UInt64 = 0
    /// Non-zero pages the hypervisor never took from the host (host-readable
    /// before reclaim, under lazy donation): they hold only what the host
    /// itself wrote (e.g. image bytes the guest never touched), so they are
    /// counted apart, neither verified zero nor a leak.
    public var hostDataPages: UInt64 = 0
    /// Pages that held a non-zero byte, or could not be read.
    public var failedPages: UInt64 = 0
    /// The first few such pages (at most `ZeroCheck.listed`), as violations.
    public var violations: [Violation] = []
    public static let listed = 16

    public init() {}

    /// Every page of `ranges` read with `read` and scanned.
    public init(reading ranges: [GFNRange], pageSize: UInt64, neverTaken: (UInt64) -> Bool = { _ in false },
                with read: (_ gpa: UInt64, _ length: Int) throws(LifecycleError) -> [UInt8]) {
        for range in ranges { self.read(range, pageSize: pageSize, neverTaken: neverTaken, with: read) }
    }

    public var verifiedPages: UInt64 { pages - failedPages - hostDataPages }

    /// Counts pages the backing file holds no data for.
    public mutating func countHoles(_ count: UInt64) {
        pages += count
        holePages += count
    }

    /// Reads `range` with `read` in chunks and scans each; a chunk that cannot
    /// be read fails all its pages.
    /// `neverTaken` names the pages the hypervisor never held (see `hostDataPages`).
    public mutating func read(_ range: GFNRange, pageSize: UInt64, neverTaken: (UInt64) -> Bool = { _ in false },
                              with read: (_ gpa: UInt64, _ length: Int) throws(LifecycleError) -> [UInt8]) {
        let chunk: UInt64 = 256
        var gfn = range.start
        while gfn < range.end {
            let count = min(chunk, range.end - gfn)
            do {
                let bytes = try read(gfn * pageSize, Int(count * pageSize))
                bytes.withUnsafeBytes { scan($0, from: gfn, pageSize: pageSize, neverTaken: neverTaken) }
            } catch {
                pages += count
                for page in gfn..<gfn + count { fail(.reclaimedPageUnreadable(gfn: page, error: error.description)) }
            }
            gfn += count
        }
    }

    /// Counts one page that failed, keeping its violation while few.
    public mutating func fail(_ violation: Violation) {
        failedPages += 1
        if violations.count < ZeroCheck.listed { violations.append(violation) }
    }

    /// Scans `bytes`, the contents of `pages` pages from `gfn`, for a non-zero byte per page.
    public mutating func scan(_ bytes: UnsafeRawBufferPointer, from gfn: UInt64, pageSize: UInt64,
                              neverTaken: (UInt64) -> Bool = { _ in false }) {
        let pageCount = UInt64(bytes.count) / pageSize
        pages += pageCount
        bytesRead += UInt64(bytes.count)
        for page in 0..<Int(pageCount) {
            let start = page * Int(pageSize)
            let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<start + Int(pageSize)])
            guard let offset = ZeroCheck.firstNonZero(slice) else { continue }
            if neverTaken(gfn + UInt64(page)) {
                hostDataPages += 1
            } else {
                fail(.notZeroAfterReclaim(gfn: gfn + UInt64(page), offset: offset, byte: slice[offset]))
            }
        }
    }

    /// The offset of the first non-zero byte: eight words or'ed at a time
    /// while everything is zero (the common case), then word by word.
    static func firstNonZero(_ bytes: UnsafeRawBufferPointer) -> Int? {
        let words = bytes.count / 8
        var first = 0
        if let base = bytes.baseAddress, UInt(bitPattern: base) % 8 == 0 {
            while first + 8 <= words {
                var any: UInt64 = 0
                for k in 0..<8 { any |= base.load(fromByteOffset: (first + k) * 8, as: UInt64.self) }
                if any != 0 { break }
                first += 8
            }
        }
        for word in first..<words where bytes.loadUnaligned(fromByteOffset: word * 8, as: UInt64.self) != 0 {
            return (word * 8..<word * 8 + 8).first { bytes[$0] != 0 }
        }
        return (words * 8..<bytes.count).first { bytes[$0] != 0 }
    }
}

extension Platform {
    /// The default zero check: every page read back with `readHostMemory`.
    public func checkZero(_ ranges: [GFNRange], pageSize: UInt64) -> ZeroCheck {
        ZeroCheck(reading: ranges, pageSize: pageSize) { (gpa, length) throws(LifecycleError) in try readHostMemory(gpa: gpa, length: length) }
    }
}
