import Ownership

/// The map's vertical axis: guest frames, top to bottom. Every stretch between
/// two boundaries the ledger ever had gets at least `band` pixels and the rest
/// of the height in proportion to its pages, so a 1-page range is as visible in
/// a 1 GiB guest as in 4 MiB. With more stretches than fit (a fragmented
/// ledger) the axis is linear.
struct FrameAxis {
    /// Frame numbers, ascending: the extent's start, every boundary, its end.
    let boundaries: [UInt64]
    /// The y of each boundary.
    let positions: [Double]
    /// The least height of a stretch (0 when linear).
    let band: Double
    var isLinear: Bool { band == 0 }

    init(extent: GFNRange, boundaries raw: [UInt64], top: Double, height: Double, minimumBand: Double) {
        var cuts = Set(raw.filter { $0 > extent.start && $0 < extent.end })
        cuts.insert(extent.start)
        cuts.insert(extent.end)
        let sorted = cuts.sorted()
        let stretches = sorted.count - 1
        let total = Double(max(extent.count, 1))
        if stretches >= 1, Double(stretches) * 4 <= height {
            let band = min(minimumBand, height / Double(2 * stretches))
            let spare = height - band * Double(stretches)
            var positions = [top]
            for index in 0..<stretches {
                positions.append(positions[index] + band + spare * Double(sorted[index + 1] - sorted[index]) / total)
            }
            boundaries = sorted
            self.positions = positions
            self.band = band
        } else {
            boundaries = [extent.start, extent.end]
            positions = [top, top + height]
            band = 0
        }
    }

    /// Where frame `gfn` (a boundary, or between two) is drawn.
    func y(_ gfn: UInt64) -> Double {
        guard let first = boundaries.first, let last = boundaries.last, gfn > first else { return positions.first ?? 0 }
        guard gfn < last else { return positions.last ?? 0 }
        var low = 0, high = boundaries.count - 1
        while high - low > 1 {
            let middle = (low + high) / 2
            if boundaries[middle] <= gfn { low = middle } else { high = middle }
        }
        let span = Double(boundaries[high] - boundaries[low])
        return positions[low] + (positions[high] - positions[low]) * Double(gfn - boundaries[low]) / span
    }

    /// The frames labelled on the axis: every boundary, or nine evenly spaced
    /// frames on a linear axis.
    var ticks: [UInt64] {
        guard isLinear, let first = boundaries.first, let last = boundaries.last else { return boundaries }
        return (0...8).map { first + (last - first) / 8 * UInt64($0) }.dropLast() + [last]
    }
}
