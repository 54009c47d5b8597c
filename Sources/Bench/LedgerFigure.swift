import CBaseline
import Glibc
import Ownership

/// Figure 4: the ownership ledger at scale, in isolation (no KVM): marking
/// a guest private costs the same for 1 GiB and 1 TiB (one range), and a
/// long random mix of shares and unshares on 1 TiB, ended by a reclaim,
/// shows what an operation costs as the ledger fragments.
enum LedgerFigure {
    static let pageSize: UInt64 = 4096
    static let oneGiB = GFNRange(start: 0, count: (1 << 30) / 4096)
    static let oneTiB = GFNRange(start: 0, count: (1 << 40) / 4096)

    static func run(_ configuration: BenchConfiguration) -> BenchFigure {
        let title = "ownership ledger at scale (pure Swift, no KVM)"
        var rows: [BenchRow] = []

        // Marking: batches of fresh ledgers, 1 GiB and 1 TiB interleaved.
        let batch = configuration.quick ? 1_000 : 20_000
        func mark(_ range: GFNRange) -> Double {
            var ledgers = [OwnershipLedger](repeating: OwnershipLedger(), count: batch)
            let elapsed = timed {
                for index in ledgers.indices { try? ledgers[index].addPrivateMemory(range) }
            }
            precondition(ledgers.allSatisfy { $0.rangeCount == 1 }, "marking must produce one range")
            return elapsed / Double(batch)
        }
        let marks = (try? interleavedMeasurements(repetitions: configuration.repetitions, warmup: 1, [
            { mark(oneGiB) }, { mark(oneTiB) },
        ])) ?? [[], []]
        rows.append(BenchRow(key: "ledger.mark-1TiB/1GiB", label: "mark all private: 1 TiB / 1 GiB (O(1) in size: ≈ 1)",
                             measurement: .ratio(Summary(pairedRatios(marks[1], marks[0]))!),
                             note: "per mark: 1 GiB \(formatted(Summary(marks[0])!.median, digits: 0)) ns, 1 TiB \(formatted(Summary(marks[1])!.median, digits: 0)) ns; one range either way"))

        // The random mix.
        let operations = configuration.quick ? 20_000 : 1_000_000
        let rounds = configuration.quick ? 2 : 3
        var perOperation: [Double] = [], growth: [Double] = [], reclaims: [Double] = [], bytesPerRange: [Double] = []
        var finalRuns: [Double] = []
        for round in 0..<rounds {
            let result = randomMix(operations: operations, seed: 0x5EED_0000 &+ UInt64(round))
            perOperation.append(result.nanosecondsPerOperation)
            growth.append(result.lastDecile / result.firstDecile)
            reclaims.append(result.reclaimNanoseconds)
            bytesPerRange.append(result.bytesPerRange)
            finalRuns.append(Double(result.peakRuns))
        }
        let ops = operations >= 1_000_000 ? "10^6" : "\(operations)"
        rows.append(BenchRow(key: "ledger.op", label: "share/unshare on 1 TiB, \(ops) random operations: time per operation",
                             measurement: .value(Summary(perOperation)!, unit: "ns"),
                             note: "60% share of 1–16 random pages, 40% unshare of a shared range; ends at \(Int(Summary(finalRuns)!.median)) ranges"))
        rows.append(BenchRow(key: "ledger.op-growth", label: "time per operation, last tenth / first tenth (flat if O(log ranges))",
                             measurement: .ratio(Summary(growth)!)))
        rows.append(BenchRow(key: "ledger.reclaim", label: "reclaim of the fragmented 1 TiB ledger",
                             measurement: .value(Summary(reclaims)!.scaled(by: 1e-6), unit: "ms")))
        rows.append(BenchRow(key: "ledger.bytes-per-range", label: "heap bytes per stored range (malloc'd bytes / ranges)",
                             measurement: .value(Summary(bytesPerRange)!, unit: "B")))
        return BenchFigure(number: 4, id: "ledger", title: title, rows: rows)
    }

    struct MixResult {
        var nanosecondsPerOperation: Double
        var firstDecile: Double
        var lastDecile: Double
        var reclaimNanoseconds: Double
        var bytesPerRange: Double
        var peakRuns: Int
    }

    /// `operations` shares and unshares on a 1 TiB ledger, then a reclaim.
    static func randomMix(operations: Int, seed: UInt64) -> MixResult {
        var random = XorShift(seed: seed)
        let heapBefore = heapInUse()
        var ledger = OwnershipLedger()
        try? ledger.addPrivateMemory(oneTiB)
        var shared: [GFNRange] = []
        shared.reserveCapacity(operations)
        let deciles = 10
        var decileTimes = [Double](repeating: 0, count: deciles)
        let perDecile = max(1, operations / deciles)
        var total = 0.0
        for decile in 0..<deciles {
            let count = decile == deciles - 1 ? operations - perDecile * (deciles - 1) : perDecile
            let elapsed = timed {
                for _ in 0..<count {
                    if random.below(10) < 6 || shared.isEmpty {
                        let pages = 1 + random.below(16)
                        let range = GFNRange(start: random.below(oneTiB.count - pages), count: pages)
                        if (try? ledger.share(range)) != nil { shared.append(range) }
                    } else {
                        let index = Int(random.below(UInt64(shared.count)))
                        let range = shared[index]
                        shared[index] = shared[shared.count - 1]
                        shared.removeLast()
                        try? ledger.unshare(range)
                    }
                }
            }
            decileTimes[decile] = elapsed / Double(count)
            total += elapsed
        }
        let runs = ledger.rangeCount
        let heapWithLedger = heapInUse()
        let sharedListBytes = shared.capacity * MemoryLayout<GFNRange>.stride
        let ledgerBytes = Double(max(0, Int(heapWithLedger) - Int(heapBefore) - sharedListBytes))
        let reclaim = timed { _ = ledger.reclaimAll() }
        return MixResult(nanosecondsPerOperation: total / Double(operations), firstDecile: decileTimes[0],
                         lastDecile: decileTimes[deciles - 1], reclaimNanoseconds: reclaim,
                         bytesPerRange: ledgerBytes / Double(max(1, runs)), peakRuns: runs)
    }

    /// Bytes malloc has handed out and not had back (glibc's mallinfo2).
    static func heapInUse() -> UInt64 {
        pvmh_baseline_heap_in_use()
    }
}

/// xorshift64*: deterministic on every platform, so a rerun draws the same operations.
struct XorShift {
    private var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
    mutating func below(_ bound: UInt64) -> UInt64 { next() % bound }
}
