/// Figure 5: teardown of populated guest memory (every page allocated with
/// fallocate(KEEP_SIZE) first, untimed), pvmh's safe-plan platform steps
/// against the C baseline's same calls, on each RAM backend.
enum TeardownFigure {
    static let goal = BenchGoal.atMost(1.1)

    static func run(_ configuration: BenchConfiguration, kvm: [BenchBackend]) -> BenchFigure {
        let title = "teardown of populated guest memory (hole punch, no userspace memset), per RAM backend"
        let sizes: [UInt64] = configuration.quick ? [16 << 20, 64 << 20] : [1 << 30, 4 << 30]
        var rows: [BenchRow] = []
        for backend in kvm {
            for size in sizes {
                let name = size >= 1 << 30 ? "\(size >> 30) GiB" : "\(size >> 20) MiB"
                let key = backend.key("teardown.\(name.replacingSpaces)")
                let label = backend.label("pvmh teardown / C baseline teardown, \(name)")
                if let refusal = backend.refusal {
                    rows.append(.skipped(key, label, refusal, goal: goal))
                    continue
                }
                #if arch(x86_64)
                do {
                    // Fewer repetitions for the big sizes: each one allocates and
                    // frees the whole size twice (it is freed between runs).
                    let repetitions = configuration.quick ? configuration.repetitions : max(3, configuration.repetitions / 2)
                    let ram = backend.backend
                    let s = try interleavedMeasurements(repetitions: repetitions, warmup: 0, [
                        { try Contenders.pvmhTeardown(bytes: size, backend: ram) },
                        { try Contenders.baselineTeardown(bytes: size, backend: ram) },
                    ])
                    let medians = s.map { Summary($0)!.median }
                    rows.append(BenchRow(key: key, label: label, measurement: .ratio(Summary(pairedRatios(s[0], s[1]))!), goal: goal,
                                         note: "\(ram): medians: pvmh \(milliseconds(medians[0])), C \(milliseconds(medians[1]))"))
                } catch {
                    rows.append(.skipped(key, label, "\(error)", goal: goal))
                }
                #endif
            }
        }
        return BenchFigure(number: 5, id: "teardown", title: title, rows: rows)
    }
}

extension String {
    var replacingSpaces: String { String(map { $0 == " " ? "-" : $0 }) }
}
