import Testing
import Ownership

/// 1 TiB of 4 KiB pages.
private let tebibytePages: UInt64 = 1 << 28

/// A ledger over `[0x1000, 0x1100)`, all private.
private func smallLedger() throws -> OwnershipLedger {
    var ledger = OwnershipLedger()
    try ledger.addPrivateMemory(GFNRange(start: 0x1000, count: 0x100))
    return ledger
}

/// Expects `body` to throw exactly `expected` and to leave the ledger as it was.
private func expectRefused(
    _ expected: LedgerError,
    on ledger: inout OwnershipLedger,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: (inout OwnershipLedger) throws(LedgerError) -> Void
) {
    let before = snapshot(ledger)
    do {
        try body(&ledger)
        Issue.record("expected \(expected), but the change succeeded", sourceLocation: sourceLocation)
    } catch {
        #expect(error == expected, sourceLocation: sourceLocation)
    }
    #expect(snapshot(ledger) == before, "a refused change must change nothing", sourceLocation: sourceLocation)
    #expect(throws: Never.self, sourceLocation: sourceLocation) { try ledger.checkInvariants() }
}

/// Everything observable about a ledger, for before/after comparisons.
private struct Snapshot: Equatable {
    var runs: [PageState: [GFNRange]]
    var counts: PageCounts
    var rangeCount: Int
    var isTornDown: Bool
}

private func snapshot(_ ledger: OwnershipLedger) -> Snapshot {
    var runs: [PageState: [GFNRange]] = [:]
    for state in PageState.allCases {
        runs[state] = ledger.ranges(in: state)
    }
    return Snapshot(runs: runs, counts: ledger.counts, rangeCount: ledger.rangeCount, isTornDown: ledger.isTornDown)
}

@Suite("OwnershipLedger")
struct OwnershipLedgerTests {
    @Test func newLedgerIsEmpty() throws {
        let ledger = OwnershipLedger()
        #expect(ledger.rangeCount == 0)
        #expect(ledger.counts == PageCounts())
        #expect(!ledger.isTornDown)
        #expect(ledger.state(of: 0) == nil)
        try ledger.checkInvariants()
    }

    @Test func oneTebibyteIsOneRun() throws {
        var ledger = OwnershipLedger()
        try ledger.addPrivateMemory(GFNRange(start: 0x40000, count: tebibytePages))
        #expect(ledger.rangeCount == 1)
        #expect(ledger.counts == PageCounts(private: tebibytePages))
        #expect(ledger.ranges(in: .private) == [GFNRange(start: 0x40000, count: tebibytePages)])
        #expect(ledger.state(of: 0x40000) == .private)
        #expect(ledger.state(of: 0x40000 + tebibytePages - 1) == .private)
        #expect(ledger.state(of: 0x40000 + tebibytePages) == nil)
        #expect(ledger.state(of: 0x3ffff) == nil)
        try ledger.checkInvariants()
    }

    @Test func touchingMemoryMergesAndAGapStaysAGap() throws {
        var ledger = OwnershipLedger()
        try ledger.addPrivateMemory(GFNRange(start: 0x100, count: 0x100))
        try ledger.addPrivateMemory(GFNRange(start: 0x200, count: 0x100))  // touches: one run
        #expect(ledger.rangeCount == 1)
        try ledger.addPrivateMemory(GFNRange(start: 0x400, count: 0x10))   // hole at 0x300..<0x400
        try ledger.addPrivateMemory(GFNRange(start: 0x0, count: 0x100))    // touches from below
        #expect(ledger.ranges(in: .private) == [GFNRange(start: 0, count: 0x300), GFNRange(start: 0x400, count: 0x10)])
        #expect(ledger.rangeCount == 2)
        #expect(ledger.state(of: 0x350) == nil)
        #expect(ledger.counts.private == 0x310)
        try ledger.checkInvariants()
    }

    @Test func shareThenUnshareInTheMiddleSplitsAndRecoalesces() throws {
        var ledger = OwnershipLedger()
        try ledger.addPrivateMemory(GFNRange(start: 0x40000, count: tebibytePages))
        let page: UInt64 = 0x40000 + tebibytePages / 2

        try ledger.share(gfn: page)
        #expect(ledger.rangeCount == 3)
        #expect(ledger.state(of: page) == .shared)
        #expect(ledger.state(of: page - 1) == .private)
        #expect(ledger.state(of: page + 1) == .private)
        #expect(ledger.ranges(in: .shared) == [GFNRange(start: page, count: 1)])
        #expect(ledger.counts == PageCounts(private: tebibytePages - 1, shared: 1))
        try ledger.checkInvariants()

        // Sharing the neighbour extends the shared run instead of adding one.
        try ledger.share(gfn: page + 1)
        #expect(ledger.rangeCount == 3)
        #expect(ledger.ranges(in: .shared) == [GFNRange(start: page, count: 2)])
        try ledger.checkInvariants()

        try ledger.unshare(GFNRange(start: page, count: 2))
        #expect(ledger.rangeCount == 1)
        #expect(ledger.ranges(in: .private) == [GFNRange(start: 0x40000, count: tebibytePages)])
        #expect(ledger.counts == PageCounts(private: tebibytePages))
        try ledger.checkInvariants()
    }

    @Test func sharingAtTheEdgesSplitsOnce() throws {
        var ledger = try smallLedger()
        try ledger.share(gfn: 0x1000)
        try ledger.share(gfn: 0x10ff)
        #expect(ledger.rangeCount == 3)
        #expect(ledger.ranges(in: .shared) == [GFNRange(start: 0x1000, count: 1), GFNRange(start: 0x10ff, count: 1)])
        #expect(ledger.ranges(in: .private) == [GFNRange(start: 0x1001, count: 0xfe)])
        try ledger.checkInvariants()
    }

    @Test func doubleShareIsNotPrivateWithStateShared() throws {
        var ledger = try smallLedger()
        try ledger.share(gfn: 0x1010)
        expectRefused(.notPrivate(gfn: 0x1010, state: .shared), on: &ledger) { ledger throws(LedgerError) in
            try ledger.share(gfn: 0x1010)
        }
    }

    @Test func unshareOfPrivateIsNotSharedWithStatePrivate() throws {
        var ledger = try smallLedger()
        expectRefused(.notShared(gfn: 0x1020, state: .private), on: &ledger) { ledger throws(LedgerError) in
            try ledger.unshare(gfn: 0x1020)
        }
    }

    @Test func outsideMemoryNamesTheFirstOffendingFrame() throws {
        var ledger = try smallLedger()
        // Entirely below guest memory: the first frame of the range.
        expectRefused(.outsideGuestMemory(gfn: 0x10), on: &ledger) { ledger throws(LedgerError) in
            try ledger.share(GFNRange(start: 0x10, count: 4))
        }
        // Starts inside, runs off the end: the first frame past guest memory.
        expectRefused(.outsideGuestMemory(gfn: 0x1100), on: &ledger) { ledger throws(LedgerError) in
            try ledger.share(GFNRange(start: 0x10f0, count: 0x20))
        }
        // Starts below, runs into guest memory: its first frame.
        expectRefused(.outsideGuestMemory(gfn: 0xff0), on: &ledger) { ledger throws(LedgerError) in
            try ledger.unshare(GFNRange(start: 0xff0, count: 0x20))
        }
    }

    @Test func rangeAcrossAHoleNamesTheFirstFrameOfTheHole() throws {
        var ledger = try smallLedger()
        try ledger.addPrivateMemory(GFNRange(start: 0x1200, count: 0x100))
        expectRefused(.outsideGuestMemory(gfn: 0x1100), on: &ledger) { ledger throws(LedgerError) in
            try ledger.share(GFNRange(start: 0x10f0, count: 0x200))
        }
    }

    @Test func rangePastTheLastFrameIsOutsideGuestMemory() throws {
        var ledger = OwnershipLedger()
        try ledger.addPrivateMemory(GFNRange(start: .max - 0x10, count: 0x10))  // ends exactly at UInt64.max
        #expect(ledger.state(of: .max - 1) == .private)
        expectRefused(.outsideGuestMemory(gfn: .max), on: &ledger) { ledger throws(LedgerError) in
            try ledger.share(GFNRange(start: .max - 4, count: 8))
        }
        expectRefused(.outsideGuestMemory(gfn: .max), on: &ledger) { ledger throws(LedgerError) in
            try ledger.addPrivateMemory(GFNRange(start: 0x10, count: .max))
        }
    }

    @Test func partlyWrongStateChangesNothing() throws {
        var ledger = try smallLedger()
        try ledger.share(gfn: 0x1050)
        // Share of [0x1040, 0x1060): private up to 0x1050, then a shared page.
        expectRefused(.notPrivate(gfn: 0x1050, state: .shared), on: &ledger) { ledger throws(LedgerError) in
            try ledger.share(GFNRange(start: 0x1040, count: 0x20))
        }
        #expect(ledger.state(of: 0x1040) == .private)
        // Unshare of [0x1050, 0x1052): shared, then private.
        expectRefused(.notShared(gfn: 0x1051, state: .private), on: &ledger) { ledger throws(LedgerError) in
            try ledger.unshare(GFNRange(start: 0x1050, count: 2))
        }
        #expect(ledger.state(of: 0x1050) == .shared)
    }

    @Test func partlyOutsideChangesNothing() throws {
        var ledger = try smallLedger()
        expectRefused(.outsideGuestMemory(gfn: 0x1100), on: &ledger) { ledger throws(LedgerError) in
            try ledger.share(GFNRange(start: 0x1080, count: 0x100))
        }
        #expect(ledger.counts == PageCounts(private: 0x100))
        #expect(ledger.rangeCount == 1)
    }

    @Test func theLowerOfTwoProblemsIsReported() throws {
        var ledger = try smallLedger()
        try ledger.share(gfn: 0x10f0)
        // Both a shared page (0x10f0) and frames outside memory (0x1100…): the shared page comes first.
        expectRefused(.notPrivate(gfn: 0x10f0, state: .shared), on: &ledger) { ledger throws(LedgerError) in
            try ledger.share(GFNRange(start: 0x10e0, count: 0x40))
        }
    }

    @Test func emptyRangeIsRefused() throws {
        var ledger = try smallLedger()
        for operation in [LedgerOperation.share, .unshare, .addPrivateMemory] {
            expectRefused(.emptyRange, on: &ledger) { ledger throws(LedgerError) in
                try operation.apply(to: &ledger, GFNRange(start: 0x1000, count: 0))
            }
        }
    }

    @Test func addingCoveredMemoryIsRefused() throws {
        var ledger = try smallLedger()
        let overlapping = GFNRange(start: 0x10ff, count: 2)
        expectRefused(.overlapsGuestMemory(overlapping), on: &ledger) { ledger throws(LedgerError) in
            try ledger.addPrivateMemory(overlapping)
        }
        let enclosing = GFNRange(start: 0, count: 0x10000)
        expectRefused(.overlapsGuestMemory(enclosing), on: &ledger) { ledger throws(LedgerError) in
            try ledger.addPrivateMemory(enclosing)
        }
    }

    @Test func everyChangeAfterReclaimIsTornDown() throws {
        var ledger = try smallLedger()
        try ledger.share(gfn: 0x1001)
        ledger.reclaimAll()
        #expect(ledger.isTornDown)
        // tornDown comes first, even for a range that is empty or outside memory.
        expectRefused(.tornDown, on: &ledger) { ledger throws(LedgerError) in try ledger.share(gfn: 0x1002) }
        expectRefused(.tornDown, on: &ledger) { ledger throws(LedgerError) in try ledger.unshare(gfn: 0x1001) }
        expectRefused(.tornDown, on: &ledger) { ledger throws(LedgerError) in try ledger.share(gfn: 0x9999) }
        expectRefused(.tornDown, on: &ledger) { ledger throws(LedgerError) in
            try ledger.share(GFNRange(start: 0x1000, count: 0))
        }
        expectRefused(.tornDown, on: &ledger) { ledger throws(LedgerError) in
            try ledger.addPrivateMemory(GFNRange(start: 0x5000, count: 1))
        }
    }

    /// Android pKVM's MEM_RELINQUISH: private → host, while the VM runs.
    @Test func relinquishGivesPrivatePagesToTheHostAndNothingElse() throws {
        var ledger = try smallLedger()
        try ledger.relinquish(GFNRange(start: 0x1010, count: 2))
        #expect(ledger.state(of: 0x1010) == .host && ledger.state(of: 0x1011) == .host)
        #expect(ledger.counts == PageCounts(host: 2, private: 0xfe))
        try ledger.share(gfn: 0x1020)
        expectRefused(.notRelinquishable(gfn: 0x1020, state: .shared), on: &ledger) { ledger throws(LedgerError) in
            try ledger.relinquish(GFNRange(start: 0x1020, count: 1))
        }
        expectRefused(.notRelinquishable(gfn: 0x1010, state: .host), on: &ledger) { ledger throws(LedgerError) in
            try ledger.relinquish(GFNRange(start: 0x100f, count: 3))
        }
        expectRefused(.notShared(gfn: 0x1010, state: .host), on: &ledger) { ledger throws(LedgerError) in
            try ledger.unshare(gfn: 0x1010)
        }
        expectRefused(.notPrivate(gfn: 0x1010, state: .host), on: &ledger) { ledger throws(LedgerError) in
            try ledger.share(gfn: 0x1010)
        }
        expectRefused(.outsideGuestMemory(gfn: 0x1100), on: &ledger) { ledger throws(LedgerError) in
            try ledger.relinquish(GFNRange(start: 0x10ff, count: 2))
        }
        let reclaim = ledger.reclaimAll()
        #expect(reclaim.relinquished == [GFNRange(start: 0x1010, count: 2)])
        #expect(reclaim.formerlyShared == [GFNRange(start: 0x1020, count: 1)])
        #expect(reclaim.formerlyPrivate == [GFNRange(start: 0x1000, count: 0x10), GFNRange(start: 0x1012, count: 0xe),
                                            GFNRange(start: 0x1021, count: 0xdf)])
        #expect(ledger.ranges(in: .reclaimed) == [GFNRange(start: 0x1000, count: 0x100)])
        try ledger.checkInvariants()
    }

    @Test func reclaimReportsFormerlyPrivateAndSharedExactly() throws {
        var ledger = OwnershipLedger()
        try ledger.addPrivateMemory(GFNRange(start: 0x1000, count: 0x100))
        try ledger.addPrivateMemory(GFNRange(start: 0x2000, count: 0x100))
        try ledger.share(GFNRange(start: 0x1010, count: 0x10))
        try ledger.share(GFNRange(start: 0x1020, count: 0x8))  // touches the previous share: one range
        try ledger.share(gfn: 0x10ff)
        try ledger.share(GFNRange(start: 0x2000, count: 0x4))

        let reclaim = ledger.reclaimAll()

        #expect(reclaim.formerlyShared == [
            GFNRange(start: 0x1010, count: 0x18),
            GFNRange(start: 0x10ff, count: 1),
            GFNRange(start: 0x2000, count: 0x4),
        ])
        #expect(reclaim.formerlyPrivate == [
            GFNRange(start: 0x1000, count: 0x10),
            GFNRange(start: 0x1028, count: 0xd7),
            GFNRange(start: 0x2004, count: 0xfc),
        ])
        // Reclaimed memory is coalesced again; the hole between the two slots stays.
        #expect(ledger.ranges(in: .reclaimed) == [GFNRange(start: 0x1000, count: 0x100), GFNRange(start: 0x2000, count: 0x100)])
        #expect(ledger.rangeCount == 2)
        #expect(ledger.state(of: 0x1010) == .reclaimed)
        #expect(ledger.state(of: 0x1800) == nil)
        try ledger.checkInvariants()

        // A retried reclaim finds nothing left and changes nothing.
        let again = ledger.reclaimAll()
        #expect(again.isEmpty)
        #expect(ledger.counts == PageCounts(reclaimed: 0x200))
    }

    @Test func countsAfterEachPhase() throws {
        var ledger = OwnershipLedger()
        #expect(ledger.counts == PageCounts())

        try ledger.addPrivateMemory(GFNRange(start: 0x80000, count: 0x4000))
        #expect(ledger.counts == PageCounts(private: 0x4000))

        try ledger.share(GFNRange(start: 0x80100, count: 0x100))
        try ledger.share(gfn: 0x83fff)
        #expect(ledger.counts == PageCounts(private: 0x4000 - 0x101, shared: 0x101))
        #expect(ledger.counts.total == 0x4000)

        try ledger.unshare(GFNRange(start: 0x80180, count: 0x80))
        #expect(ledger.counts == PageCounts(private: 0x4000 - 0x81, shared: 0x81))

        ledger.reclaimAll()
        #expect(ledger.counts == PageCounts(reclaimed: 0x4000))
        #expect(ledger.counts[.reclaimed] == 0x4000)

        ledger.releaseAll()
        #expect(ledger.counts == PageCounts())
        try ledger.checkInvariants()
    }

    @Test func releaseAllEmptiesTheLedgerAndItStaysTornDown() throws {
        var ledger = try smallLedger()
        try ledger.share(gfn: 0x1040)
        ledger.reclaimAll()
        ledger.releaseAll()
        #expect(ledger.rangeCount == 0)
        #expect(ledger.counts == PageCounts())
        #expect(ledger.state(of: 0x1040) == nil)
        #expect(PageState.allCases.allSatisfy { ledger.ranges(in: $0).isEmpty })
        #expect(ledger.isTornDown)
        try ledger.checkInvariants()
        expectRefused(.tornDown, on: &ledger) { ledger throws(LedgerError) in try ledger.share(gfn: 0x1040) }
    }

    /// The regression suite releases before reclaiming on purpose; the ledger
    /// records it rather than refusing, and the plan's precondition is visible
    /// in the counts beforehand.
    @Test func releaseWithoutReclaimIsRecordedNotRefused() throws {
        var ledger = try smallLedger()
        try ledger.share(gfn: 0x1040)
        #expect(ledger.counts.private + ledger.counts.shared == 0x100)  // what a plan would refuse on
        ledger.releaseAll()
        #expect(ledger.rangeCount == 0)
        #expect(ledger.isTornDown)
        try ledger.checkInvariants()
    }

    @Test func reclaimOfAnEmptyLedgerTearsItDown() throws {
        var ledger = OwnershipLedger()
        #expect(ledger.reclaimAll() == Reclaim())
        #expect(ledger.isTornDown)
        #expect(ledger.rangeCount == 0)
        try ledger.checkInvariants()
    }

    @Test func nestedReclaimNameIsTheSameType() {
        let nested: OwnershipLedger.Reclaim = Reclaim(formerlyPrivate: [GFNRange(start: 1, count: 1)])
        #expect(nested.formerlyPrivate.count == 1)
        #expect(!nested.isEmpty)
    }
}
