/// Order statistics for noisy timings: the median and the spread of a
/// sample, never the mean (one preempted repetition on a shared 2-core
/// machine would drag a mean anywhere).
public struct Summary: Sendable, Equatable {
    /// The number of values summarised.
    public var count: Int
    public var median: Double
    public var minimum: Double
    public var maximum: Double
    /// The 25th and 75th percentiles (linear interpolation between order
    /// statistics, as numpy's default and R's type 7).
    public var lowerQuartile: Double
    public var upperQuartile: Double

    /// Summarises `values`; nil for an empty sample.
    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        count = sorted.count
        median = Summary.quantile(sorted, 0.5)
        minimum = sorted[0]
        maximum = sorted[sorted.count - 1]
        lowerQuartile = Summary.quantile(sorted, 0.25)
        upperQuartile = Summary.quantile(sorted, 0.75)
    }

    /// The `q` quantile (0...1) of an ascending, non-empty array: linear
    /// interpolation between the two nearest order statistics.
    public static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        precondition(!sorted.isEmpty, "the quantile of an empty sample is undefined")
        let position = max(0, min(1, q)) * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        let fraction = position - Double(lower)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * fraction
    }

    /// The same summary with every value multiplied by `factor` (> 0), e.g.
    /// nanoseconds to milliseconds.
    public func scaled(by factor: Double) -> Summary {
        var copy = self
        copy.median *= factor
        copy.minimum *= factor
        copy.maximum *= factor
        copy.lowerQuartile *= factor
        copy.upperQuartile *= factor
        return copy
    }
}

/// The order in which the contenders of one repetition run. Repetition `r`
/// starts with contender `r % n` and goes round, so over n repetitions each
/// contender runs in each position equally often: a warm cache, a CPU
/// frequency step or a neighbour's build hurts all of them alike, and the
/// per-repetition ratios cancel what they share.
public enum Interleaving {
    public static func order(repetition: Int, contenders: Int) -> [Int] {
        precondition(contenders > 0 && repetition >= 0)
        return (0..<contenders).map { (repetition + $0) % contenders }
    }
}

/// Times `contenders` (each returns its own measurement, e.g. nanoseconds,
/// or throws to abort) over `repetitions` interleaved repetitions. Result:
/// one array per contender, value `r` from repetition `r`, so the caller can
/// form per-repetition ratios.
public func interleavedMeasurements(repetitions: Int, warmup: Int = 1,
                                    _ contenders: [() throws -> Double]) throws -> [[Double]] {
    for round in 0..<warmup {
        for index in Interleaving.order(repetition: round, contenders: contenders.count) {
            _ = try contenders[index]()
        }
    }
    var results = Array(repeating: [Double](), count: contenders.count)
    for index in results.indices { results[index].reserveCapacity(repetitions) }
    var values = Array(repeating: 0.0, count: contenders.count)
    for repetition in 0..<repetitions {
        for index in Interleaving.order(repetition: repetition, contenders: contenders.count) {
            values[index] = try contenders[index]()
        }
        for index in values.indices { results[index].append(values[index]) }
    }
    return results
}

/// Element-wise `numerator[i] / denominator[i]`: the per-repetition ratios
/// whose median and spread the bench reports.
public func pairedRatios(_ numerator: [Double], _ denominator: [Double]) -> [Double] {
    precondition(numerator.count == denominator.count, "ratios need paired samples")
    return zip(numerator, denominator).map { $0 / $1 }
}
