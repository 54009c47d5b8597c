/// What teardown took back from the guest, as ``OwnershipLedger/reclaimAll()``
/// reports it.
///
/// The split matters to the platform because pKVM treats the two kinds
/// differently when it returns a page to the host: a page the guest owned
/// privately is zeroed (its contents must never reach the host), a page the
/// guest shared keeps its contents (the host could read them all along). The
/// platform uses the first list to check that private memory reads back as
/// zeros, or to zero it itself where it emulates the hypervisor.
public struct Reclaim: Equatable, Sendable, Codable {
    /// Ranges that were guest-private, coalesced and sorted.
    public var formerlyPrivate: [GFNRange]
    /// Ranges that were shared with the host, coalesced and sorted.
    public var formerlyShared: [GFNRange]
    /// Ranges the guest had already given back (`MEM_RELINQUISH`): the
    /// host's before teardown, so neither zeroed nor kept by it.
    public var relinquished: [GFNRange]

    /// Creates a report.
    public init(formerlyPrivate: [GFNRange] = [], formerlyShared: [GFNRange] = [], relinquished: [GFNRange] = []) {
        self.formerlyPrivate = formerlyPrivate
        self.formerlyShared = formerlyShared
        self.relinquished = relinquished
    }

    /// Whether teardown found nothing left to reclaim (a second reclaim, or an
    /// empty ledger).
    public var isEmpty: Bool { formerlyPrivate.isEmpty && formerlyShared.isEmpty }
}

extension OwnershipLedger {
    /// The same type as the top-level ``Reclaim``, for callers that spell it
    /// through the ledger.
    public typealias Reclaim = Ownership.Reclaim
}
