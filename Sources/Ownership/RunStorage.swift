/// The ledger's storage: a sorted array of coalesced runs of equal state.
///
/// Memory is O(number of runs), never O(pages): a 1 TiB guest that is all
/// private is one run. Lookups are a binary search; a transition splits at most
/// the two runs at its edges and merges with its neighbours, so the array stays
/// coalesced after every change.
///
/// Changing a range shifts the tail of the array, which is O(runs). That is
/// cheap for the few hundred runs a guest that shares buffers produces, but if a
/// guest fragments its memory into ~10^6 runs a balanced tree (or a B-tree of
/// runs) is needed instead; a benchmark is to measure where that starts.
/// Everything the ledger knows about the representation is behind this type so
/// it can be swapped without touching the ledger.
struct RunStorage: Sendable {
    /// A maximal stretch of frames `[start, end)` in one state.
    struct Run: Equatable, Sendable {
        var start: UInt64
        var end: UInt64
        var state: PageState

        var range: GFNRange { GFNRange(start: start, count: end - start) }
    }

    /// The first frame in a range that does not have the state asked for.
    enum Mismatch: Equatable {
        /// No run covers the frame.
        case uncovered(gfn: UInt64)
        /// A run covers the frame in another state.
        case wrongState(gfn: UInt64, state: PageState)
    }

    /// Sorted by `start`; runs never overlap, are never empty, and two runs
    /// that touch (`a.end == b.start`) always differ in state.
    private(set) var runs: [Run] = []
    /// Kept up to date on every change so `counts` is O(1).
    private(set) var counts = PageCounts()

    var runCount: Int { runs.count }

    // MARK: Queries

    /// The state of one frame, or nil when no run covers it.
    func state(of gfn: UInt64) -> PageState? {
        let index = firstIndex(endingAfter: gfn)
        guard index < runs.count, runs[index].start <= gfn else { return nil }
        return runs[index].state
    }

    /// The runs in one state, in order. Runs of one state never touch (they
    /// would have been merged), so these are already coalesced.
    func ranges(in state: PageState) -> [GFNRange] {
        runs.filter { $0.state == state }.map(\.range)
    }

    /// The first frame of `range`, in ascending order, that is not covered or
    /// not in `expected`; nil if the whole range is covered and in `expected`.
    /// O(log runs + runs inside the range).
    func firstMismatch(in range: GFNRange, expected: PageState) -> Mismatch? {
        let end = range.saturatingEnd
        var cursor = range.start
        var index = firstIndex(endingAfter: cursor)
        while cursor < end {
            guard index < runs.count, runs[index].start <= cursor else {
                return .uncovered(gfn: cursor)
            }
            let run = runs[index]
            if run.state != expected {
                return .wrongState(gfn: cursor, state: run.state)
            }
            cursor = run.end
            index += 1
        }
        // A saturated end stands for frames past UInt64.max - 1, which no run
        // can cover (a run's end must be representable).
        if !range.isRepresentable {
            return .uncovered(gfn: .max)
        }
        return nil
    }

    /// Whether any run shares a frame with `range`.
    func overlaps(_ range: GFNRange) -> Bool {
        let index = firstIndex(endingAfter: range.start)
        return index < runs.count && runs[index].start < range.end
    }

    // MARK: Changes

    /// Adds `range` in `state`, merging with touching runs of the same state.
    ///
    /// - Precondition: `range` is non-empty and overlaps no run.
    mutating func insert(_ range: GFNRange, as state: PageState) {
        precondition(!range.isEmpty && !overlaps(range), "insert needs a non-empty range outside every run")
        let index = firstIndex(endingAfter: range.start)
        replace(index..<index, around: [Run(start: range.start, end: range.end, state: state)])
        counts[state] += range.count
    }

    /// Puts every frame of `range` into `state`, splitting the runs at its edges.
    ///
    /// - Precondition: runs cover every frame of `range` (the caller has
    ///   validated it with ``firstMismatch(in:expected:)``).
    mutating func assign(_ range: GFNRange, to state: PageState) {
        precondition(!range.isEmpty, "assign needs a non-empty range")
        let lower = firstIndex(endingAfter: range.start)
        let upper = firstIndex(startingAtOrAfter: range.end)
        precondition(lower < upper && runs[lower].start <= range.start && runs[upper - 1].end >= range.end,
                     "assign needs a range covered by runs")

        var pieces: [Run] = []
        let first = runs[lower], last = runs[upper - 1]
        if first.start < range.start {
            pieces.append(Run(start: first.start, end: range.start, state: first.state))
        }
        pieces.append(Run(start: range.start, end: range.end, state: state))
        if last.end > range.end {
            pieces.append(Run(start: range.end, end: last.end, state: last.state))
        }
        for run in runs[lower..<upper] {
            counts[run.state] -= min(run.end, range.end) - max(run.start, range.start)
        }
        counts[state] += range.count
        replace(lower..<upper, around: pieces)
    }

    /// Puts every run into `state`. Gaps between runs stay gaps.
    mutating func assignAll(to state: PageState) {
        let total = counts.total
        runs = Self.coalesced(runs.map { Run(start: $0.start, end: $0.end, state: state) })
        counts = PageCounts()
        counts[state] = total
    }

    /// Forgets every run.
    mutating func removeAll() {
        runs.removeAll()
        counts = PageCounts()
    }

    // MARK: Invariants

    /// The first way the storage is inconsistent, or nil.
    func firstInvariantViolation() -> String? {
        var recount = PageCounts()
        for (index, run) in runs.enumerated() {
            if run.start >= run.end {
                return "run \(index) [\(hex(run.start)), \(hex(run.end))) is empty or inverted"
            }
            if index > 0 {
                let previous = runs[index - 1]
                if previous.end > run.start {
                    return "run \(index - 1) \(previous.range) and run \(index) \(run.range) overlap or are out of order"
                }
                if previous.end == run.start && previous.state == run.state {
                    return "runs \(index - 1) \(previous.range) and \(index) \(run.range) touch and are both \(run.state.phrase), so they should be one run"
                }
            }
            recount[run.state] += run.end - run.start
        }
        if recount != counts {
            return "the kept page counts \(counts) differ from the runs' \(recount)"
        }
        return nil
    }

    // MARK: Private

    /// The index of the first run whose end is after `gfn`; because runs are
    /// sorted and disjoint, ends are sorted too, so that run is the only one
    /// that can contain `gfn`.
    private func firstIndex(endingAfter gfn: UInt64) -> Int {
        partition { $0.end > gfn }
    }

    /// The index of the first run that starts at or after `gfn`.
    private func firstIndex(startingAtOrAfter gfn: UInt64) -> Int {
        partition { $0.start >= gfn }
    }

    /// The first index whose run satisfies `isAfter`, given that the predicate
    /// is false for a prefix of the array and true for the rest.
    private func partition(_ isAfter: (Run) -> Bool) -> Int {
        var low = 0, high = runs.count
        while low < high {
            let middle = low + (high - low) / 2
            if isAfter(runs[middle]) {
                high = middle
            } else {
                low = middle + 1
            }
        }
        return low
    }

    /// Replaces `runs[bounds]` with `pieces`, merging them with the runs just
    /// before and after when those touch and have the same state, so a change
    /// never leaves two touching runs of one state.
    private mutating func replace(_ bounds: Range<Int>, around pieces: [Run]) {
        var lower = bounds.lowerBound, upper = bounds.upperBound
        var merged = pieces
        if lower > 0, let head = merged.first, runs[lower - 1].end == head.start, runs[lower - 1].state == head.state {
            lower -= 1
            merged.insert(runs[lower], at: 0)
        }
        if upper < runs.count, let tail = merged.last, runs[upper].start == tail.end, runs[upper].state == tail.state {
            merged.append(runs[upper])
            upper += 1
        }
        runs.replaceSubrange(lower..<upper, with: Self.coalesced(merged))
    }

    /// Merges touching runs of one state in a sorted, disjoint list.
    private static func coalesced(_ list: [Run]) -> [Run] {
        var result: [Run] = []
        result.reserveCapacity(list.count)
        for run in list {
            if let last = result.last, last.end == run.start, last.state == run.state {
                result[result.count - 1].end = run.end
            } else {
                result.append(run)
            }
        }
        return result
    }
}
