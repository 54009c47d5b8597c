import Testing
@testable import Ownership

/// The ledger's chunked storage across many chunks (the ownership tests'
/// frame space of 2048 pages never needs more than one): tens of thousands
/// of runs, checked against a per-page model. Lives here because figure 4 of
/// the bench is what made the storage chunked.
@Suite("Ledger storage at bench scale")
struct LedgerScaleTests {
    struct Random {
        var state: UInt64
        mutating func below(_ bound: UInt64) -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return (state &* 0x2545_F491_4F6C_DD1D) % bound
        }
    }

    @Test("30000 random shares and unshares over 60000 frames match a per-page model", arguments: [UInt64(1), 0xBEEF])
    func manyChunks(seed: UInt64) throws {
        let frames: UInt64 = 60_000
        var random = Random(state: seed)
        var ledger = OwnershipLedger()
        try ledger.addPrivateMemory(GFNRange(start: 0, count: frames))
        var shared = [Bool](repeating: false, count: Int(frames))
        var peakRuns = 0
        for step in 1...30_000 {
            // Mostly single pages, sometimes a span across many runs.
            let count = random.below(20) == 0 ? 1 + random.below(300) : 1 + random.below(3)
            let start = random.below(frames - count)
            let range = GFNRange(start: start, count: count)
            let wantShare = random.below(10) < 6
            let pages = Int(start)..<Int(start + count)
            let allowed = pages.allSatisfy { shared[$0] == !wantShare }
            let succeeded: Bool
            if wantShare {
                succeeded = (try? ledger.share(range)) != nil
            } else {
                succeeded = (try? ledger.unshare(range)) != nil
            }
            #expect(succeeded == allowed, "step \(step): \(wantShare ? "share" : "unshare") \(range)")
            if succeeded { for page in pages { shared[page] = wantShare } }
            peakRuns = max(peakRuns, ledger.rangeCount)
            if step % 2_500 == 0 {
                try ledger.checkInvariants()
                for _ in 0..<200 {
                    let gfn = random.below(frames + 10)
                    let expected: PageState? = gfn < frames ? (shared[Int(gfn)] ? .shared : .private) : nil
                    #expect(ledger.state(of: gfn) == expected)
                }
            }
        }
        #expect(peakRuns > 4 * RunStorage.maximumChunkRuns, "the test must span several chunks (peak \(peakRuns) runs)")
        let expectedShared = runs(of: true, in: shared)
        #expect(ledger.ranges(in: .shared) == expectedShared)
        let reclaim = ledger.reclaimAll()
        #expect(reclaim.formerlyShared == expectedShared)
        #expect(reclaim.formerlyPrivate == runs(of: false, in: shared))
        #expect(ledger.rangeCount == 1)
        try ledger.checkInvariants()
    }

    func runs(of value: Bool, in pages: [Bool]) -> [GFNRange] {
        var result: [GFNRange] = []
        for (index, page) in pages.enumerated() where page == value {
            if let last = result.last, last.end == UInt64(index) {
                result[result.count - 1].count += 1
            } else {
                result.append(GFNRange(start: UInt64(index), count: 1))
            }
        }
        return result
    }
}
