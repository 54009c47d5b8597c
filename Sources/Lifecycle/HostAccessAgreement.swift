import Ownership

/// A run of guest pages and whether the platform lets the host touch them,
/// as the platform itself records it (not as the ledger says it should).
public struct HostAccessRun: Equatable, Sendable {
    public var range: GFNRange
    public var hostMayAccess: Bool

    public init(_ range: GFNRange, hostMayAccess: Bool) {
        self.range = range
        self.hostMayAccess = hostMayAccess
    }
}

/// What a platform observed of host access to all of guest RAM, and where
/// it looked (for the output: "the kernel's mappings of the host view").
public struct HostAccessObservation: Equatable, Sendable {
    public var source: String
    public var runs: [HostAccessRun]

    public init(source: String, runs: [HostAccessRun]) {
        self.source = source
        self.runs = runs
    }
}

/// The end-of-run comparison of the ledger with the platform's own view of
/// every page it can observe: a private page must be closed to the host, a
/// shared one open. Pages the observation does not cover are not counted.
public struct HostAccessAgreement: Equatable, Sendable {
    public var source: String
    public var pages: UInt64 = 0
    public var disagreeing: UInt64 = 0
    /// The first few disagreements (at most `listed`), as violations.
    public var violations: [Violation] = []
    public static let listed = 16

    public init(source: String) { self.source = source }

    /// Compares `observation` with `ledger`, run against run (both sorted
    /// by frame: a merge, never a walk over pages).
    public init(_ observation: HostAccessObservation, ledger: OwnershipLedger) {
        self.init(source: observation.source)
        let owned = ledger.ownedRanges
        let observed = observation.runs.sorted { $0.range.start < $1.range.start }
        var i = 0, j = 0
        while i < owned.count && j < observed.count {
            let a = owned[i], b = observed[j]
            let start = max(a.range.start, b.range.start), end = min(a.range.end, b.range.end)
            if start < end {
                compare(GFNRange(start: start, count: end - start), ledger: a.state, hostMayAccess: b.hostMayAccess)
            }
            if a.range.end <= b.range.end { i += 1 } else { j += 1 }
        }
    }

    private mutating func compare(_ range: GFNRange, ledger state: PageState, hostMayAccess: Bool, listing: Bool = true) {
        // Shared pages, and pages the guest relinquished (the host's again),
        // are the host's to read; private ones are not.
        pages += range.count
        guard (state == .shared || state == .host) != hostMayAccess else { return }
        disagreeing += range.count
        if listing, violations.count < Self.listed {
            violations.append(.platformDisagrees(range, ledger: state, hostMayAccess: hostMayAccess, source: source))
        }
    }

    /// One probe result of a page the ledger holds in `state`. `listing`
    /// false counts a disagreement another check has already reported.
    public mutating func count(gfn: UInt64, state: PageState, _ access: HostAccess, listing: Bool = true) {
        let open: Bool = if case .readable = access { true } else { false }
        compare(GFNRange(start: gfn, count: 1), ledger: state, hostMayAccess: open, listing: listing)
    }

    public var summary: String {
        "the ledger and \(source) agree on \(pages - disagreeing) of \(pages) pages"
    }
}
