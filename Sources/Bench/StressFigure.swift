import CBaseline
import KVM
import Lifecycle
import Ownership
import Platforms

/// Figure 7: what a stressed VM costs at the end. Teardown of a populated
/// VM in the state a stress guest leaves (thousands of shared runs kept,
/// the private runs between them punched out), and the zero check after
/// reclaim in pages verified per second, both against the C baseline doing
/// the same kernel work in the same process.
enum StressFigure {
    static let teardownGoal = BenchGoal.atMost(1.1)
    static let verifyGoal = BenchGoal.atMost(1.5)
    /// Shared runs a stressed 1 GiB VM is left with (the quick run scales them down).
    static let sharedRuns = 4096

    static func run(_ configuration: BenchConfiguration, kvm: [BenchBackend]) -> BenchFigure {
        let title = "a stressed VM's end: teardown with shared runs kept, and pages verified zero per second, per RAM backend"
        let size: UInt64 = configuration.quick ? 64 << 20 : 1 << 30
        let name = size >= 1 << 30 ? "\(size >> 30) GiB" : "\(size >> 20) MiB"
        var rows: [BenchRow] = []
        for backend in kvm {
            let teardownKey = backend.key("stress.teardown.\(name.replacingSpaces)")
            let teardownLabel = backend.label("pvmh teardown / C teardown of a stressed \(name) VM")
            let readKey = backend.key("stress.verify-read.\(name.replacingSpaces)")
            let readLabel = backend.label("pvmh zero check / C zero check, \(name) read back")
            let holesKey = backend.key("stress.verify-holes.\(name.replacingSpaces)")
            let holesLabel = backend.label("pvmh zero check / C zero check, \(name) reclaimed (holes)")
            if let refusal = backend.refusal {
                rows += [.skipped(teardownKey, teardownLabel, refusal, goal: teardownGoal),
                         .skipped(readKey, readLabel, refusal, goal: verifyGoal),
                         .skipped(holesKey, holesLabel, refusal, goal: verifyGoal)]
                continue
            }
            #if arch(x86_64)
            let ram = backend.backend
            let repetitions = configuration.quick ? configuration.repetitions : max(3, configuration.repetitions / 2)
            let runs = sharedRunList(pages: size / 4096, count: configuration.quick ? sharedRuns / 16 : sharedRuns)
            let sharedPages = runs.reduce(0) { $0 + $1.count }
            rows.append(row(teardownKey, teardownLabel, teardownGoal, repetitions: repetitions,
                            note: "\(ram): \(runs.count) shared runs (\(sharedPages) pages) kept, the rest punched", [
                                { try pvmhTeardown(bytes: size, backend: ram, shared: runs) },
                                { try baselineTeardown(bytes: size, backend: ram, shared: runs) },
                            ]))
            for (key, label, punched) in [(readKey, readLabel, false), (holesKey, holesLabel, true)] {
                rows.append(row(key, label, verifyGoal, repetitions: repetitions, pages: size / 4096, note: "\(ram)", [
                    { try pvmhZeroCheck(bytes: size, backend: ram, punched: punched) },
                    { try baselineZeroCheck(bytes: size, backend: ram, punched: punched) },
                ]))
            }
            #endif
        }
        return BenchFigure(number: 7, id: "stress", title: title, rows: rows)
    }

    /// One row: the two contenders interleaved, their paired ratio; with
    /// `pages`, the note gives each one's pages per second too.
    static func row(_ key: String, _ label: String, _ goal: BenchGoal, repetitions: Int, pages: UInt64? = nil, note: String,
                    _ contenders: [() throws -> Double]) -> BenchRow {
        do {
            let s = try interleavedMeasurements(repetitions: repetitions, warmup: 0, contenders)
            let medians = s.map { Summary($0)!.median }
            var text = "\(note): medians: pvmh \(milliseconds(medians[0])), C \(milliseconds(medians[1]))"
            if let pages {
                text += "; pages verified per second: pvmh \(rate(pages, medians[0])), C \(rate(pages, medians[1]))"
            }
            return BenchRow(key: key, label: label, measurement: .ratio(Summary(pairedRatios(s[0], s[1]))!), goal: goal, note: text)
        } catch {
            return .skipped(key, label, "\(error)", goal: goal)
        }
    }

    static func rate(_ pages: UInt64, _ nanoseconds: Double) -> String {
        let perSecond = Double(pages) / max(nanoseconds, 1) * 1e9
        return perSecond >= 1e9 ? formatted(perSecond / 1e9, digits: 1) + " G" : perSecond >= 1e6 ? formatted(perSecond / 1e6, digits: 1) + " M" : formatted(perSecond / 1e3, digits: 1) + " k"
    }

    /// Seeded, non-overlapping runs of 1–16 pages with gaps between them,
    /// spread over `pages`: the shape a stress guest's shares leave.
    static func sharedRunList(pages: UInt64, count: Int) -> [GFNRange] {
        var generator = SplitMix64(seed: 0x5354_5245_5353)
        var runs: [GFNRange] = []
        let stride = max(pages / UInt64(max(count, 1)), 17)
        var start: UInt64 = 0
        while runs.count < count {
            let length = 1 + generator.next() % 16
            let gap = generator.next() % (stride - length)
            guard start + gap + length <= pages else { break }
            runs.append(GFNRange(start: start + gap, count: length))
            start += stride
        }
        return runs
    }

    #if arch(x86_64)
    // MARK: Contenders

    static func pvmhTeardown(bytes: UInt64, backend: RAMBackend, shared: [GFNRange]) throws -> Double {
        var (platform, ledger) = try Contenders.populatedPlatform(bytes: bytes, backend: backend, shared: shared)
        platform.touchEveryPage()
        return try Contenders.timedTeardown(platform, &ledger, what: "the stressed VM")
    }

    static func baselineTeardown(bytes: UInt64, backend: RAMBackend, shared: [GFNRange]) throws -> Double {
        var nanoseconds: UInt64 = 0
        var error = [CChar](repeating: 0, count: 192)
        let pairs = shared.flatMap { [$0.start, $0.count] }
        let status = error.withUnsafeMutableBufferPointer { buffer in
            pairs.withUnsafeBufferPointer {
                pvmh_baseline_teardown_stressed(backend.baseline, bytes, $0.baseAddress, shared.count, &nanoseconds, buffer.baseAddress, buffer.count)
            }
        }
        guard status == 0 else { throw BenchFailure("the C baseline teardown of the stressed VM failed: \(Contenders.cText(error))") }
        return Double(nanoseconds)
    }

    /// The zero check over all of guest memory, every page populated with
    /// zeros: read back (the host view opened as a share would), or, with
    /// `punched`, after reclaim punched it all out (holes, no read).
    static func pvmhZeroCheck(bytes: UInt64, backend: RAMBackend, punched: Bool) throws -> Double {
        var (platform, ledger) = try Contenders.populatedPlatform(bytes: bytes, backend: backend)
        platform.touchEveryPage()
        let all = GuestRAM(size: bytes).gfns
        if punched {
            try platform.reclaim(ledger.reclaimAll())
        } else {
            try platform.reflect(.share, all)
        }
        var check = ZeroCheck()
        let elapsed = timed { check = platform.checkZero([all], pageSize: 4096) }
        try? platform.unbind()
        try? platform.release()
        try? platform.destroy()
        guard check.pages == all.count, check.failedPages == 0 else {
            throw BenchFailure("pvmh's zero check covered \(check.pages) of \(all.count) pages with \(check.failedPages) failing")
        }
        return elapsed
    }

    static func baselineZeroCheck(bytes: UInt64, backend: RAMBackend, punched: Bool) throws -> Double {
        var nanoseconds: UInt64 = 0, nonzero: UInt64 = 0
        var error = [CChar](repeating: 0, count: 192)
        let status = error.withUnsafeMutableBufferPointer {
            pvmh_baseline_zero_check(backend.baseline, bytes, punched ? 1 : 0, &nanoseconds, &nonzero, $0.baseAddress, $0.count)
        }
        guard status == 0 else { throw BenchFailure("the C baseline zero check failed: \(Contenders.cText(error))") }
        guard nonzero == 0 else { throw BenchFailure("the C baseline zero check found \(nonzero) non-zero pages") }
        return Double(nanoseconds)
    }
    #endif
}
