import Ownership

/// The ledger's runs at one point of a run, taken under the ledger's lock:
/// O(runs), never O(pages), so the map of a 1 GiB guest costs what the 4 MiB
/// demo's does. The lifecycle takes one when all RAM became private, after
/// each share/unshare the ledger accepted that is listed (the first
/// `ProtectedVMLifecycle.individuallyJournaledRequests`, as the journal
/// lists them), when the run ends, and after each teardown step.
public struct OwnershipSnapshot: Equatable, Sendable {
    /// Where in the run the snapshot was taken.
    public enum Point: Equatable, Sendable {
        /// All of guest RAM private, before the guest exists.
        case created
        /// After a share or unshare the ledger accepted.
        case request(MemoryRequest, vcpu: Int)
        /// The vCPUs stopped (or the run was cut short): teardown is next.
        case ran
        /// After one teardown step, whether it succeeded or not.
        case teardown(TeardownStep)
    }

    public var point: Point
    /// The ledger's coalesced runs in frame order; empty once memory is released.
    public var ranges: [OwnedRange]
    public var counts: PageCounts
    /// CLOCK_MONOTONIC nanoseconds, taken with the ledger locked.
    public var takenAt: UInt64

    public init(point: Point, ranges: [OwnedRange], counts: PageCounts, takenAt: UInt64) {
        self.point = point
        self.ranges = ranges
        self.counts = counts
        self.takenAt = takenAt
    }

    /// Snapshot of `ledger` now.
    public init(_ point: Point, of ledger: OwnershipLedger) {
        self.init(point: point, ranges: ledger.ownedRanges, counts: ledger.counts, takenAt: monotonicNanoseconds())
    }
}
