import Platforms

/// Figure 3: the cost of one share or unshare round trip (guest doorbell →
/// pvmh's ledger, mprotect, journal → guest) against one raw port-I/O exit
/// round trip on the same transport, each from a guest loop: per call =
/// (T(N calls) − T(0 calls)) / N, so boot and teardown cancel. On each RAM
/// backend.
enum TransportFigure {
    static let goal = BenchGoal.atMost(1.25)
    static let ramSize: UInt64 = 4 << 20

    static func run(_ configuration: BenchConfiguration, kvm: [BenchBackend]) -> BenchFigure {
        let title = "share/unshare round trip vs a raw exit round trip (doorbell transport, per call), per RAM backend"
        return BenchFigure(number: 3, id: "transport", title: title, rows: kvm.flatMap { rows(configuration, on: $0) })
    }

    /// The rows of one backend: measured, or the three main rows skipped with the reason.
    static func rows(_ configuration: BenchConfiguration, on backend: BenchBackend) -> [BenchRow] {
        let main = backend.label("pvmh share-or-unshare call / raw doorbell-port exit (C baseline)")
        let keys = ["transport.pvmh-share/c-raw", "transport.pvmh-share/pvmh-raw", "transport.c-share/c-raw"].map(backend.key)
        func skipped(_ why: String) -> [BenchRow] {
            [.skipped(keys[0], main, why, goal: goal),
             .skipped(keys[1], backend.label("pvmh share-or-unshare / pvmh raw exit"), why),
             .skipped(keys[2], backend.label("C share-or-unshare / C raw exit"), why)]
        }
        if let refusal = backend.refusal { return skipped(refusal) }
        #if arch(x86_64)
        do {
            let loops: UInt32 = configuration.quick ? 200 : 10_000
            let calls = Double(2 * loops)
            let share = try BenchImages.x86Bench(mode: .shareUnshare, count: loops)
            let raw = try BenchImages.x86Bench(mode: .rawExit, count: 2 * loops)
            let idle = try BenchImages.x86Bench(mode: .rawExit, count: 0)
            let ram = backend.backend
            func pvmh(_ elf: [UInt8]) throws -> Double {
                try Contenders.pvmh(elf: elf, guestName: "x86_64-bench", ramSize: ramSize, backend: ram, fullVerification: true).nanoseconds
            }
            func c(_ elf: [UInt8], sync: Bool = false) throws -> Double {
                try Contenders.baseline(elf: elf, ramSize: ramSize, backend: ram, syncRegisters: sync).nanoseconds
            }
            let s = try interleavedMeasurements(repetitions: configuration.repetitions, warmup: 1, [
                { try pvmh(idle) }, { try pvmh(share) }, { try pvmh(raw) },
                { try c(idle) }, { try c(share) }, { try c(raw) }, { try c(share, sync: true) },
            ])
            func perCall(_ loaded: [Double], _ empty: [Double]) -> [Double] { zip(loaded, empty).map { ($0 - $1) / calls } }
            let pvmhShare = perCall(s[1], s[0]), pvmhRaw = perCall(s[2], s[0])
            let cShare = perCall(s[4], s[3]), cRaw = perCall(s[5], s[3]), cSync = perCall(s[6], s[3])
            let m = [pvmhShare, pvmhRaw, cShare, cRaw, cSync].map { Summary($0)!.median }
            let note = "\(ram): per call: pvmh share/unshare \(microseconds(m[0])), pvmh raw \(microseconds(m[1])), C share/unshare \(microseconds(m[2])) (\(microseconds(m[4])) with synced registers), C raw \(microseconds(m[3])); \(Int(calls)) calls per run"
            return [
                BenchRow(key: keys[0], label: main, measurement: .ratio(Summary(pairedRatios(pvmhShare, cRaw))!), goal: goal, note: note),
                BenchRow(key: backend.key("transport.pvmh-share/c-share"),
                         label: backend.label("pvmh share-or-unshare call / C share-or-unshare call (same kernel work: pvmh's own cost)"),
                         measurement: .ratio(Summary(pairedRatios(pvmhShare, cShare))!)),
                BenchRow(key: keys[1], label: backend.label("pvmh share-or-unshare call / pvmh raw exit (same VMM loop)"),
                         measurement: .ratio(Summary(pairedRatios(pvmhShare, pvmhRaw))!)),
                BenchRow(key: keys[2], label: backend.label("C share-or-unshare call / C raw exit (the kernel's floor for a doorbell call)"),
                         measurement: .ratio(Summary(pairedRatios(cShare, cRaw))!)),
                BenchRow(key: backend.key("transport.c-share-syncregs/c-raw"),
                         label: backend.label("C share-or-unshare call with KVM_CAP_SYNC_REGS (no GET/SET_REGS ioctls) / C raw exit"),
                         measurement: .ratio(Summary(pairedRatios(cSync, cRaw))!)),
                BenchRow(key: backend.key("transport.c-raw"), label: backend.label("raw doorbell-port exit round trip (C baseline)"),
                         measurement: .value(Summary(cRaw)!.scaled(by: 1e-3), unit: "µs")),
            ]
        } catch {
            return skipped("\(error)")
        }
        #else
        return []
        #endif
    }
}
