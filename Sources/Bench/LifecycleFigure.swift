import GuestImage
import Platforms

/// Figure 1: the demo guest's whole lifecycle in this process (create →
/// boot → guest stop → full teardown), pvmh against the C baseline, both
/// with the doorbell transport given explicitly, on each RAM backend.
enum LifecycleFigure {
    /// The issue "Fast by default" asks 1.10 of the in-process lifecycle.
    static let goal = BenchGoal.atMost(1.1)
    static let ramSize: UInt64 = 4 << 20

    static func run(_ configuration: BenchConfiguration, kvm: [BenchBackend]) -> BenchFigure {
        let title = "lifecycle of the demo guest in process (create → boot → stop → teardown), doorbell transport, per RAM backend"
        return BenchFigure(number: 1, id: "lifecycle", title: title, rows: kvm.flatMap { rows(configuration, on: $0) })
    }

    /// The rows of one backend: measured, or the two goal rows skipped with the reason.
    static func rows(_ configuration: BenchConfiguration, on backend: BenchBackend) -> [BenchRow] {
        let full = backend.label("pvmh (as `pvmh run`: fd audit + host-read probes) / C baseline")
        let lean = backend.label("pvmh (verification off: no fd audit, no host-read probes) / C baseline")
        func skipped(_ why: String) -> [BenchRow] {
            [.skipped(backend.key("lifecycle.pvmh/c"), full, why, goal: goal),
             .skipped(backend.key("lifecycle.pvmh-unverified/c"), lean, why, goal: goal)]
        }
        if let refusal = backend.refusal { return skipped(refusal) }
        #if arch(x86_64)
        do {
            guard let demo = BuiltinGuest.named("x86_64-demo") else { throw BenchFailure("no built-in x86_64-demo guest") }
            let elf = demo.elfBytes
            let ram = backend.backend
            func pvmh(audit: Bool, probes: Bool) throws -> Double {
                try Contenders.pvmh(elf: elf, guestName: demo.name, ramSize: ramSize, backend: ram, auditDescriptors: audit,
                                    probeHostReads: probes).nanoseconds
            }
            let samples = try interleavedMeasurements(repetitions: configuration.repetitions, warmup: 2, [
                { try pvmh(audit: true, probes: true) },
                { try pvmh(audit: false, probes: false) },
                { try Contenders.baseline(elf: elf, ramSize: ramSize, backend: ram).nanoseconds },
                { try pvmh(audit: false, probes: true) },
            ])
            let medians = samples.map { Summary($0)!.median }
            let note = "\(backend.backend): medians: pvmh \(milliseconds(medians[0])), without the fd audit \(milliseconds(medians[3])), without audit and probes \(milliseconds(medians[1])), C \(milliseconds(medians[2]))"
            return [
                BenchRow(key: backend.key("lifecycle.pvmh/c"), label: full,
                         measurement: .ratio(Summary(pairedRatios(samples[0], samples[2]))!), goal: goal, note: note),
                BenchRow(key: backend.key("lifecycle.pvmh-unverified/c"), label: lean,
                         measurement: .ratio(Summary(pairedRatios(samples[1], samples[2]))!), goal: goal),
                BenchRow(key: backend.key("lifecycle.pvmh-probes-only/c"),
                         label: backend.label("pvmh (host-read probes, no fd audit) / C baseline"),
                         measurement: .ratio(Summary(pairedRatios(samples[3], samples[2]))!)),
                BenchRow(key: backend.key("lifecycle.c"), label: backend.label("C baseline lifecycle"),
                         measurement: .value(Summary(samples[2])!.scaled(by: 1e-6), unit: "ms")),
            ]
        } catch {
            return skipped("\(error)")
        }
        #else
        return []
        #endif
    }
}
