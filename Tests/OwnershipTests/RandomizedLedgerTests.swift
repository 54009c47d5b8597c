import Testing
import Ownership

/// xorshift64*: small, deterministic, and the same on every platform and
/// toolchain, so a failing seed reproduces exactly.
struct XorShift64Star {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed
    }

    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }

    /// A value in `0..<bound`; the modulo bias is irrelevant for a test.
    mutating func below(_ bound: UInt64) -> UInt64 {
        next() % bound
    }
}

/// The obviously-correct ledger: one slot per page of a small frame space,
/// the rules written out page by page in ascending order.
struct PerPageModel {
    /// Every random range ends below this frame.
    static let frames: UInt64 = 2048
    private var slots = [PageState?](repeating: nil, count: Int(frames))
    var isTornDown = false

    subscript(gfn: UInt64) -> PageState? {
        get { gfn < Self.frames ? slots[Int(gfn)] : nil }
        set { slots[Int(gfn)] = newValue }
    }

    mutating func addPrivateMemory(_ range: GFNRange) -> LedgerError? {
        if isTornDown { return .tornDown }
        if range.count == 0 { return .emptyRange }
        if (range.start..<range.end).contains(where: { self[$0] != nil }) {
            return .overlapsGuestMemory(range)
        }
        for gfn in range.start..<range.end { self[gfn] = .private }
        return nil
    }

    mutating func move(_ range: GFNRange, from: PageState, to: PageState,
                       wrongState: (UInt64, PageState) -> LedgerError) -> LedgerError? {
        if isTornDown { return .tornDown }
        if range.count == 0 { return .emptyRange }
        for gfn in range.start..<range.end {
            guard let state = self[gfn] else { return .outsideGuestMemory(gfn: gfn) }
            if state != from { return wrongState(gfn, state) }
        }
        for gfn in range.start..<range.end { self[gfn] = to }
        return nil
    }

    mutating func reclaimAll() -> Reclaim {
        isTornDown = true
        let reclaim = Reclaim(formerlyPrivate: ranges(in: .private), formerlyShared: ranges(in: .shared))
        slots = slots.map { $0 == nil ? nil : .reclaimed }
        return reclaim
    }

    /// Maximal runs of consecutive pages in `state`.
    func ranges(in state: PageState) -> [GFNRange] {
        var result: [GFNRange] = []
        for gfn in 0..<Self.frames where self[gfn] == state {
            if let last = result.last, last.end == gfn {
                result[result.count - 1].count += 1
            } else {
                result.append(GFNRange(start: gfn, count: 1))
            }
        }
        return result
    }

    var counts: PageCounts {
        var counts = PageCounts()
        for case let state? in slots { counts[state] += 1 }
        return counts
    }
}

@Suite("Randomized against a per-page model")
struct RandomizedLedgerTests {
    /// Frames the random ranges are drawn from; guest memory starts as two
    /// slots with a hole between them and grows when a random add fits.
    static let universe: UInt64 = 1024

    @Test(arguments: [UInt64(1), 0xDEAD_BEEF, 0x5EED_0000_0000_0042])
    func tenThousandRandomOperations(seed: UInt64) throws {
        var random = XorShift64Star(seed: seed)
        var ledger = OwnershipLedger()
        var model = PerPageModel()
        var accepted: [String: Int] = [:]
        var refused: [String: Int] = [:]
        var mostRuns = 0

        for range in [GFNRange(start: 64, count: 256), GFNRange(start: 400, count: 200)] {
            try ledger.addPrivateMemory(range)
            #expect(model.addPrivateMemory(range) == nil)
        }

        for step in 0..<10_000 {
            let roll = random.below(100)
            let count = random.below(8) == 0 ? random.below(64) : 1 + random.below(8)  // sometimes 0
            var range = GFNRange(start: random.below(Self.universe), count: count)
            // Half the shares and unshares aim at part of a run they can
            // succeed on, so accepted transitions (splits, merges) are frequent.
            if roll < 92, random.below(2) == 0 {
                let targets = model.ranges(in: roll < 46 ? .private : .shared)
                if !targets.isEmpty {
                    let target = targets[Int(random.below(UInt64(targets.count)))]
                    range.start = target.start + random.below(target.count)
                    range.count = 1 + random.below(min(16, target.end - range.start))
                }
            }
            let name: String
            let got: LedgerError?
            let want: LedgerError?
            if roll < 46 {
                name = "share"
                got = Self.error { () throws(LedgerError) in try ledger.share(range) }
                want = model.move(range, from: .private, to: .shared) { .notPrivate(gfn: $0, state: $1) }
            } else if roll < 92 {
                name = "unshare"
                got = Self.error { () throws(LedgerError) in try ledger.unshare(range) }
                want = model.move(range, from: .shared, to: .private) { .notShared(gfn: $0, state: $1) }
            } else {
                name = "add"
                got = Self.error { () throws(LedgerError) in try ledger.addPrivateMemory(range) }
                want = model.addPrivateMemory(range)
            }
            // #require: stop at the first divergence instead of reporting thousands.
            try #require(got == want, "step \(step): \(name) \(range)")
            if got == nil { accepted[name, default: 0] += 1 } else { refused[name, default: 0] += 1 }

            try ledger.checkInvariants()
            try #require(ledger.counts == model.counts, "step \(step)")
            for probe in [range.start, range.end, random.below(Self.universe)] {
                try #require(ledger.state(of: probe) == model[probe], "step \(step): gfn \(probe)")
            }
            mostRuns = max(mostRuns, ledger.rangeCount)
            if step % 500 == 0 {
                Self.expectSame(ledger, model, "step \(step)")
            }
        }

        // The run must have exercised both outcomes of every operation and
        // fragmented the ledger, or it proves little.
        // (Each seed gives about 2,600 accepted shares and unshares, 100 adds,
        // and peaks near 300 runs.)
        for (name, least) in [("share", 1000), ("unshare", 1000), ("add", 20)] {
            #expect(accepted[name, default: 0] > least, "\(name) accepted only \(accepted[name, default: 0]) times")
            #expect(refused[name, default: 0] > least, "\(name) refused only \(refused[name, default: 0]) times")
        }
        #expect(mostRuns > 100)
        Self.expectSame(ledger, model, "before reclaim")

        // Teardown on the fragmented ledger matches the model exactly.
        #expect(ledger.reclaimAll() == model.reclaimAll())
        try ledger.checkInvariants()
        Self.expectSame(ledger, model, "after reclaim")
        let range = GFNRange(start: random.below(Self.universe), count: 1)
        #expect(Self.error { () throws(LedgerError) in try ledger.share(range) } == .tornDown)

        ledger.releaseAll()
        #expect(ledger.rangeCount == 0)
        #expect(ledger.counts == PageCounts())
    }

    private static func error(_ body: () throws(LedgerError) -> Void) -> LedgerError? {
        do {
            try body()
            return nil
        } catch {
            return error
        }
    }

    /// Compares every frame of the model and every state's ranges.
    private static func expectSame(_ ledger: OwnershipLedger, _ model: PerPageModel, _ when: String) {
        for gfn in 0..<PerPageModel.frames where ledger.state(of: gfn) != model[gfn] {
            Issue.record("\(when): gfn \(gfn) is \(String(describing: ledger.state(of: gfn))) in the ledger but \(String(describing: model[gfn])) in the model")
            return
        }
        for state in PageState.allCases {
            #expect(ledger.ranges(in: state) == model.ranges(in: state), "\(when): \(state) ranges")
        }
        #expect(ledger.isTornDown == model.isTornDown)
    }
}
