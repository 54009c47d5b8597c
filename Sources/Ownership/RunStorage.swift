/// The ledger's storage: coalesced runs of equal state, sorted, kept in
/// chunks of at most ``maximumChunkRuns`` runs (a two-level B-tree of runs).
///
/// Memory is O(number of runs), never O(pages): a 1 TiB guest that is all
/// private is one run. Lookups are two binary searches (over the chunks'
/// last ends, then inside one chunk); a transition splits at most the two
/// runs at its edges and merges with its neighbours, so the runs stay
/// coalesced after every change.
///
/// Why chunks: a single sorted array shifts its whole tail on every split or
/// merge, which is O(runs). `pvmh bench` (Docs/benchmarks.md, figure 4)
/// measured it on a 1 TiB guest after 10^6 random shares and unshares
/// (~390,000 runs at the end): 24.6 µs per operation on average, 22× slower in
/// the last tenth than in the first. Chunked, a change edits one chunk
/// (≤ 512 runs) in place and touches the directory of chunk ends (runs / 256
/// entries) only when a chunk splits or empties: 0.48 µs per operation on the
/// same mix, 1.5× from first tenth to last (cache misses, not shifting).
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

    /// A chunk splits in two when a change makes it longer than this.
    static let maximumChunkRuns = 512

    /// Where a run is: chunk and offset in it. `(chunks.count, 0)` is the end.
    private struct Position: Equatable {
        var chunk: Int
        var offset: Int
    }

    /// Non-empty chunks whose concatenation is sorted by `start`; runs never
    /// overlap, are never empty, and two runs that touch (`a.end ==
    /// b.start`) always differ in state, across chunk boundaries too.
    private var chunks: [[Run]] = []
    /// `chunkEnds[i] == chunks[i].last!.end`, for the first binary search.
    private var chunkEnds: [UInt64] = []
    /// Kept up to date on every change so `counts` is O(1).
    private(set) var counts = PageCounts()
    private(set) var runCount = 0

    /// Every run in order (O(runs): invariants and tests).
    var runs: [Run] { chunks.flatMap { $0 } }

    // MARK: Queries

    /// The state of one frame, or nil when no run covers it.
    func state(of gfn: UInt64) -> PageState? {
        let position = firstPosition(endingAfter: gfn)
        guard let run = run(at: position), run.start <= gfn else { return nil }
        return run.state
    }

    /// The runs in one state, in order. Runs of one state never touch (they
    /// would have been merged), so these are already coalesced.
    func ranges(in state: PageState) -> [GFNRange] {
        var result: [GFNRange] = []
        for chunk in chunks {
            for run in chunk where run.state == state { result.append(run.range) }
        }
        return result
    }

    /// The first frame of `range`, in ascending order, that is not covered or
    /// not in `expected`; nil if the whole range is covered and in `expected`.
    /// O(log runs + runs inside the range).
    func firstMismatch(in range: GFNRange, expected: PageState) -> Mismatch? {
        let end = range.saturatingEnd
        var cursor = range.start
        var position = firstPosition(endingAfter: cursor)
        while cursor < end {
            guard let run = run(at: position), run.start <= cursor else {
                return .uncovered(gfn: cursor)
            }
            if run.state != expected {
                return .wrongState(gfn: cursor, state: run.state)
            }
            cursor = run.end
            position = next(position)
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
        guard let run = run(at: firstPosition(endingAfter: range.start)) else { return false }
        return run.start < range.end
    }

    // MARK: Changes

    /// Adds `range` in `state`, merging with touching runs of the same state.
    ///
    /// - Precondition: `range` is non-empty and overlaps no run.
    mutating func insert(_ range: GFNRange, as state: PageState) {
        precondition(!range.isEmpty && !overlaps(range), "insert needs a non-empty range outside every run")
        let position = firstPosition(endingAfter: range.start)
        replace(position, position, with: [Run(start: range.start, end: range.end, state: state)])
        counts[state] += range.count
    }

    /// Puts every frame of `range` into `state`, splitting the runs at its edges.
    ///
    /// - Precondition: runs cover every frame of `range` (the caller has
    ///   validated it with ``firstMismatch(in:expected:)``).
    mutating func assign(_ range: GFNRange, to state: PageState) {
        precondition(!range.isEmpty, "assign needs a non-empty range")
        let lower = firstPosition(endingAfter: range.start)
        let upper = firstPosition(startingAtOrAfter: range.end)
        guard let first = run(at: lower), lower != upper, let last = run(at: previous(upper)),
              first.start <= range.start, last.end >= range.end else {
            preconditionFailure("assign needs a range covered by runs")
        }
        var pieces: [Run] = []
        if first.start < range.start {
            pieces.append(Run(start: first.start, end: range.start, state: first.state))
        }
        pieces.append(Run(start: range.start, end: range.end, state: state))
        if last.end > range.end {
            pieces.append(Run(start: range.end, end: last.end, state: last.state))
        }
        var position = lower
        while position != upper, let run = run(at: position) {
            counts[run.state] -= min(run.end, range.end) - max(run.start, range.start)
            position = next(position)
        }
        counts[state] += range.count
        replace(lower, upper, with: pieces)
    }

    /// Puts every run into `state`. Gaps between runs stay gaps.
    mutating func assignAll(to state: PageState) {
        let total = counts.total
        let all = Self.coalesced(runs.map { Run(start: $0.start, end: $0.end, state: state) })
        chunks = []
        chunkEnds = []
        runCount = 0
        replaceChunks(0..<0, with: all)
        counts = PageCounts()
        counts[state] = total
    }

    /// Forgets every run.
    mutating func removeAll() {
        chunks.removeAll()
        chunkEnds.removeAll()
        runCount = 0
        counts = PageCounts()
    }

    // MARK: Invariants

    /// The first way the storage is inconsistent, or nil.
    func firstInvariantViolation() -> String? {
        for (index, chunk) in chunks.enumerated() {
            if chunk.isEmpty || chunk.count > Self.maximumChunkRuns {
                return "chunk \(index) holds \(chunk.count) runs (must be 1 to \(Self.maximumChunkRuns))"
            }
            if chunkEnds.count != chunks.count || chunkEnds[index] != chunk[chunk.count - 1].end {
                return "the directory of chunk ends does not match chunk \(index)"
            }
        }
        let runs = self.runs
        if runs.count != runCount {
            return "the kept run count \(runCount) differs from the \(runs.count) runs stored"
        }
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

    // MARK: Private: positions

    private var endPosition: Position { Position(chunk: chunks.count, offset: 0) }

    private func run(at position: Position) -> Run? {
        position.chunk < chunks.count ? chunks[position.chunk][position.offset] : nil
    }

    private func next(_ position: Position) -> Position {
        position.offset + 1 < chunks[position.chunk].count
            ? Position(chunk: position.chunk, offset: position.offset + 1)
            : Position(chunk: position.chunk + 1, offset: 0)
    }

    /// The position before `position` (which is not the first run).
    private func previous(_ position: Position) -> Position {
        position.offset > 0
            ? Position(chunk: position.chunk, offset: position.offset - 1)
            : Position(chunk: position.chunk - 1, offset: chunks[position.chunk - 1].count - 1)
    }

    /// The first run whose end is after `gfn`; because runs are sorted and
    /// disjoint, ends are sorted too, so that run is the only one that can
    /// contain `gfn`.
    private func firstPosition(endingAfter gfn: UInt64) -> Position {
        let chunk = Self.partition(chunkEnds.count) { chunkEnds[$0] > gfn }
        guard chunk < chunks.count else { return endPosition }
        let runs = chunks[chunk]
        return Position(chunk: chunk, offset: Self.partition(runs.count) { runs[$0].end > gfn })
    }

    /// The first run that starts at or after `gfn`. It is at or after the
    /// first run ending after `gfn`: in that run's chunk, or first in the next.
    private func firstPosition(startingAtOrAfter gfn: UInt64) -> Position {
        let chunk = Self.partition(chunkEnds.count) { chunkEnds[$0] > gfn }
        guard chunk < chunks.count else { return endPosition }
        let runs = chunks[chunk]
        let offset = Self.partition(runs.count) { runs[$0].start >= gfn }
        return offset < runs.count ? Position(chunk: chunk, offset: offset) : Position(chunk: chunk + 1, offset: 0)
    }

    /// The first index in `0..<count` satisfying `isAfter`, given that the
    /// predicate is false for a prefix and true for the rest.
    private static func partition(_ count: Int, _ isAfter: (Int) -> Bool) -> Int {
        var low = 0, high = count
        while low < high {
            let middle = low + (high - low) / 2
            if isAfter(middle) {
                high = middle
            } else {
                low = middle + 1
            }
        }
        return low
    }

    // MARK: Private: changes

    /// Replaces the runs in `[lower, upper)` with `pieces`, merging them with
    /// the runs just before and after when those touch and have the same
    /// state, so a change never leaves two touching runs of one state.
    ///
    /// Works on the smallest span of whole chunks that holds the run before
    /// `lower`, the replaced runs and the run at `upper`: usually one chunk.
    private mutating func replace(_ lower: Position, _ upper: Position, with pieces: [Run]) {
        guard !chunks.isEmpty else {
            replaceChunks(0..<0, with: Self.coalesced(pieces))
            return
        }
        let firstChunk = lower.offset > 0 ? lower.chunk : max(0, min(lower.chunk, chunks.count) - 1)
        let lastChunk = min(upper.chunk, chunks.count - 1)
        if firstChunk == lastChunk && lower.chunk == firstChunk && upper.chunk == firstChunk {
            replaceInChunk(firstChunk, lower.offset, upper.offset, with: pieces)
            return
        }
        // Offsets of lower and upper inside the span's concatenation.
        var local: [Run] = []
        var localLower = 0, localUpper = 0
        for chunk in firstChunk...lastChunk {
            if chunk == lower.chunk { localLower = local.count + lower.offset }
            if chunk == upper.chunk { localUpper = local.count + upper.offset }
            local += chunks[chunk]
        }
        if lower.chunk > lastChunk { localLower = local.count }
        if upper.chunk > lastChunk { localUpper = local.count }

        var merged = pieces
        if localLower > 0, let head = merged.first, local[localLower - 1].end == head.start, local[localLower - 1].state == head.state {
            localLower -= 1
            merged.insert(local[localLower], at: 0)
        }
        if localUpper < local.count, let tail = merged.last, local[localUpper].start == tail.end, local[localUpper].state == tail.state {
            merged.append(local[localUpper])
            localUpper += 1
        }
        local.replaceSubrange(localLower..<localUpper, with: Self.coalesced(merged))
        replaceChunks(firstChunk..<(lastChunk + 1), with: local)
    }

    /// The common case of ``replace(_:_:with:)``: the neighbours and the
    /// replaced runs all lie in one chunk, which is edited in place.
    private mutating func replaceInChunk(_ chunk: Int, _ lower: Int, _ upper: Int, with pieces: [Run]) {
        var lower = lower, upper = upper
        var merged = pieces
        let before = chunks[chunk].count
        if lower > 0, let head = merged.first, chunks[chunk][lower - 1].end == head.start, chunks[chunk][lower - 1].state == head.state {
            lower -= 1
            merged.insert(chunks[chunk][lower], at: 0)
        }
        if upper < before, let tail = merged.last, chunks[chunk][upper].start == tail.end, chunks[chunk][upper].state == tail.state {
            merged.append(chunks[chunk][upper])
            upper += 1
        }
        chunks[chunk].replaceSubrange(lower..<upper, with: Self.coalesced(merged))
        let after = chunks[chunk].count
        if after == 0 || after > Self.maximumChunkRuns {
            // Split (or drop) it through the general path.
            let runs = chunks[chunk]
            runCount += after - before
            replaceChunks(chunk..<(chunk + 1), with: runs)
        } else {
            runCount += after - before
            chunkEnds[chunk] = chunks[chunk][after - 1].end
        }
    }

    /// Replaces whole chunks with `runs`, cut into chunks of at most
    /// `maximumChunkRuns` (half full when cut, so the next splits are far).
    private mutating func replaceChunks(_ span: Range<Int>, with runs: [Run]) {
        let removed = chunks[span].reduce(0) { $0 + $1.count }
        var pieces: [[Run]] = []
        if runs.count <= Self.maximumChunkRuns {
            if !runs.isEmpty { pieces = [runs] }
        } else {
            let half = Self.maximumChunkRuns / 2
            var start = 0
            while start < runs.count {
                let end = runs.count - start <= Self.maximumChunkRuns ? runs.count : start + half
                pieces.append(Array(runs[start..<end]))
                start = end
            }
        }
        chunks.replaceSubrange(span, with: pieces)
        chunkEnds.replaceSubrange(span, with: pieces.map { $0[$0.count - 1].end })
        runCount += runs.count - removed
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
