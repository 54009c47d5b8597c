import GuestImage

/// Figure 1: the demo guest's whole lifecycle in this process (create →
/// boot → guest stop → full teardown), pvmh against the C baseline, both
/// with the doorbell transport given explicitly.
enum LifecycleFigure {
    static let goal = BenchGoal.atMost(1.2)
    static let ramSize: UInt64 = 4 << 20

    static func run(_ configuration: BenchConfiguration, kvm: String?) -> BenchFigure {
        let title = "lifecycle of the demo guest in process (create → boot → stop → teardown), doorbell transport"
        let full = "pvmh (as `pvmh run`: fd audit + host-read probes) / C baseline"
        let lean = "pvmh (verification off: no fd audit, no host-read probes) / C baseline"
        if let kvm {
            return BenchFigure(number: 1, id: "lifecycle", title: title, rows: [
                .skipped("lifecycle.pvmh/c", full, kvm, goal: goal), .skipped("lifecycle.pvmh-unverified/c", lean, kvm, goal: goal),
            ])
        }
        #if arch(x86_64)
        do {
            guard let demo = BuiltinGuest.named("x86_64-demo") else { throw BenchFailure("no built-in x86_64-demo guest") }
            let elf = demo.elfBytes
            func pvmh(audit: Bool, probes: Bool) throws -> Double {
                try Contenders.pvmh(elf: elf, guestName: demo.name, ramSize: ramSize, auditDescriptors: audit,
                                    probeHostReads: probes).nanoseconds
            }
            let samples = try interleavedMeasurements(repetitions: configuration.repetitions, warmup: 2, [
                { try pvmh(audit: true, probes: true) },
                { try pvmh(audit: false, probes: false) },
                { try Contenders.baseline(elf: elf, ramSize: ramSize).nanoseconds },
                { try pvmh(audit: false, probes: true) },
            ])
            let medians = samples.map { Summary($0)!.median }
            let note = "medians: pvmh \(milliseconds(medians[0])), without the fd audit \(milliseconds(medians[3])), without audit and probes \(milliseconds(medians[1])), C \(milliseconds(medians[2]))"
            return BenchFigure(number: 1, id: "lifecycle", title: title, rows: [
                BenchRow(key: "lifecycle.pvmh/c", label: full, measurement: .ratio(Summary(pairedRatios(samples[0], samples[2]))!),
                         goal: goal, note: note),
                BenchRow(key: "lifecycle.pvmh-unverified/c", label: lean,
                         measurement: .ratio(Summary(pairedRatios(samples[1], samples[2]))!), goal: goal),
                BenchRow(key: "lifecycle.pvmh-probes-only/c", label: "pvmh (host-read probes, no fd audit) / C baseline",
                         measurement: .ratio(Summary(pairedRatios(samples[3], samples[2]))!)),
                BenchRow(key: "lifecycle.c", label: "C baseline lifecycle", measurement: .value(Summary(samples[2])!.scaled(by: 1e-6), unit: "ms")),
            ])
        } catch {
            return BenchFigure(number: 1, id: "lifecycle", title: title, rows: [
                .skipped("lifecycle.pvmh/c", full, "\(error)", goal: goal),
                .skipped("lifecycle.pvmh-unverified/c", lean, "\(error)", goal: goal),
            ])
        }
        #else
        return BenchFigure(number: 1, id: "lifecycle", title: title, rows: [])
        #endif
    }
}
