import Testing
@testable import Bench

@Suite("Bench statistics: median, spread, interleaving")
struct StatisticsTests {
    @Test("the median of odd and even samples, whatever their order", arguments: [
        ([3.0, 1, 2], 2.0), ([4.0, 1, 3, 2], 2.5), ([7.0], 7.0), ([5.0, 5, 1, 9, 5], 5.0), ([-1.0, 1], 0.0),
    ])
    func median(values: [Double], expected: Double) throws {
        #expect(try #require(Summary(values)).median == expected)
        #expect(try #require(Summary(values.reversed())).median == expected)
    }

    @Test("an empty sample has no summary")
    func empty() {
        #expect(Summary([]) == nil)
    }

    @Test("the spread: minimum, maximum and the quartiles by linear interpolation (numpy's default)")
    func spread() throws {
        let summary = try #require(Summary([10, 1, 4, 7, 2, 9, 3, 8, 6, 5]))
        #expect(summary.count == 10)
        #expect(summary.minimum == 1 && summary.maximum == 10)
        #expect(summary.lowerQuartile == 3.25)   // numpy.percentile(1...10, 25)
        #expect(summary.upperQuartile == 7.75)
        #expect(summary.median == 5.5)
        let single = try #require(Summary([4]))
        #expect(single.lowerQuartile == 4 && single.upperQuartile == 4 && single.minimum == 4 && single.maximum == 4)
    }

    @Test("quantile at the ends is the minimum and the maximum; out-of-range q is clamped")
    func quantileEnds() {
        let sorted = [1.0, 2, 3, 4]
        #expect(Summary.quantile(sorted, 0) == 1)
        #expect(Summary.quantile(sorted, 1) == 4)
        #expect(Summary.quantile(sorted, -3) == 1)
        #expect(Summary.quantile(sorted, 7) == 4)
        #expect(Summary.quantile(sorted, 0.5) == 2.5)
    }

    @Test("scaling a summary scales every statistic and keeps the count")
    func scaled() throws {
        let summary = try #require(Summary([1_000_000, 2_000_000, 3_000_000])).scaled(by: 1e-6)
        #expect(summary.median == 2 && summary.minimum == 1 && summary.maximum == 3 && summary.count == 3)
    }

    @Test("paired ratios divide repetition by repetition")
    func ratios() {
        #expect(pairedRatios([2, 9, 5], [1, 3, 10]) == [2, 3, 0.5])
    }

    @Test("interleaving: over n repetitions every contender runs once in every position", arguments: [1, 2, 3, 6])
    func interleavingIsBalanced(contenders: Int) {
        var positions = Array(repeating: Set<Int>(), count: contenders)
        for repetition in 0..<contenders {
            let order = Interleaving.order(repetition: repetition, contenders: contenders)
            #expect(order.sorted() == Array(0..<contenders), "each repetition runs each contender exactly once")
            for (position, contender) in order.enumerated() { positions[contender].insert(position) }
        }
        for contender in 0..<contenders {
            #expect(positions[contender] == Set(0..<contenders))
        }
        #expect(Interleaving.order(repetition: 4, contenders: 3) == [1, 2, 0])
    }

    @Test("interleavedMeasurements runs warm-ups first, then rotates the order, and keeps values per contender")
    func interleavedRuns() throws {
        final class Log { var calls: [Int] = [] }
        let log = Log()
        var counters = [0, 0]
        let results = try interleavedMeasurements(repetitions: 3, warmup: 1, [
            { log.calls.append(0); counters[0] += 1; return Double(100 + counters[0]) },
            { log.calls.append(1); counters[1] += 1; return Double(200 + counters[1]) },
        ])
        #expect(log.calls == [0, 1, /* measured: */ 0, 1, 1, 0, 0, 1])
        // The warm-up values (101, 201) are dropped; repetition r is index r.
        #expect(results == [[102, 103, 104], [202, 203, 204]])
    }

    @Test("a contender that throws aborts the measurement")
    func throwing() {
        #expect(throws: BenchFailure.self) {
            _ = try interleavedMeasurements(repetitions: 2, [{ 1 }, { throw BenchFailure("no") }])
        }
    }

    @Test("goals: at most and at least, met on the median")
    func goals() {
        let ratio = BenchRow(key: "k", label: "l", measurement: .ratio(Summary([1.1, 1.3, 1.15])!), goal: .atMost(1.2))
        #expect(ratio.goalMet == true)
        let qemu = BenchRow(key: "k", label: "l", measurement: .ratio(Summary([12, 20, 14])!), goal: .atLeast(15))
        #expect(qemu.goalMet == false)
        #expect(BenchRow(key: "k", label: "l", measurement: .skipped("why"), goal: .atMost(1)).goalMet == nil)
        #expect(BenchRow(key: "k", label: "l", measurement: .ratio(Summary([1])!)).goalMet == nil)
    }

    @Test("numbers print without Foundation, rounded to the digits asked for", arguments: [
        (1.005, 1, "1.0"), (2.5, 0, "3"), (0.1234, 3, "0.123"), (-1.25, 1, "-1.3"), (12.0, 2, "12.00"), (0.04, 2, "0.04"),
    ])
    func formatting(value: Double, digits: Int, expected: String) {
        #expect(formatted(value, digits: digits) == expected)
    }
}
