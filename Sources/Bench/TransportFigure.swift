/// Figure 3: the cost of one share or unshare round trip (guest doorbell →
/// pvmh's ledger, mprotect, journal → guest) against one raw port-I/O exit
/// round trip on the same transport, each from a guest loop: per call =
/// (T(N calls) − T(0 calls)) / N, so boot and teardown cancel.
enum TransportFigure {
    static let goal = BenchGoal.atMost(1.25)
    static let ramSize: UInt64 = 4 << 20

    static func run(_ configuration: BenchConfiguration, kvm: String?) -> BenchFigure {
        let title = "share/unshare round trip vs a raw exit round trip (doorbell transport, per call)"
        let main = "pvmh share-or-unshare call / raw doorbell-port exit (C baseline)"
        let keys = ["transport.pvmh-share/c-raw", "transport.pvmh-share/pvmh-raw", "transport.c-share/c-raw"]
        if let kvm {
            return BenchFigure(number: 3, id: "transport", title: title, rows: [
                .skipped(keys[0], main, kvm, goal: goal), .skipped(keys[1], "pvmh share-or-unshare / pvmh raw exit", kvm),
                .skipped(keys[2], "C share-or-unshare / C raw exit", kvm),
            ])
        }
        #if arch(x86_64)
        do {
            let loops: UInt32 = configuration.quick ? 200 : 10_000
            let calls = Double(2 * loops)
            let share = try BenchImages.x86Bench(mode: .shareUnshare, count: loops)
            let raw = try BenchImages.x86Bench(mode: .rawExit, count: 2 * loops)
            let idle = try BenchImages.x86Bench(mode: .rawExit, count: 0)
            func pvmh(_ elf: [UInt8]) throws -> Double {
                try Contenders.pvmh(elf: elf, guestName: "x86_64-bench", ramSize: ramSize, fullVerification: true).nanoseconds
            }
            func c(_ elf: [UInt8], sync: Bool = false) throws -> Double {
                try Contenders.baseline(elf: elf, ramSize: ramSize, syncRegisters: sync).nanoseconds
            }
            let s = try interleavedMeasurements(repetitions: configuration.repetitions, warmup: 1, [
                { try pvmh(idle) }, { try pvmh(share) }, { try pvmh(raw) },
                { try c(idle) }, { try c(share) }, { try c(raw) }, { try c(share, sync: true) },
            ])
            func perCall(_ loaded: [Double], _ empty: [Double]) -> [Double] { zip(loaded, empty).map { ($0 - $1) / calls } }
            let pvmhShare = perCall(s[1], s[0]), pvmhRaw = perCall(s[2], s[0])
            let cShare = perCall(s[4], s[3]), cRaw = perCall(s[5], s[3]), cSync = perCall(s[6], s[3])
            let m = [pvmhShare, pvmhRaw, cShare, cRaw, cSync].map { Summary($0)!.median }
            let note = "per call: pvmh share/unshare \(microseconds(m[0])), pvmh raw \(microseconds(m[1])), C share/unshare \(microseconds(m[2])) (\(microseconds(m[4])) with synced registers), C raw \(microseconds(m[3])); \(Int(calls)) calls per run"
            return BenchFigure(number: 3, id: "transport", title: title, rows: [
                BenchRow(key: keys[0], label: main, measurement: .ratio(Summary(pairedRatios(pvmhShare, cRaw))!), goal: goal, note: note),
                BenchRow(key: "transport.pvmh-share/c-share",
                         label: "pvmh share-or-unshare call / C share-or-unshare call (same kernel work: pvmh's own cost)",
                         measurement: .ratio(Summary(pairedRatios(pvmhShare, cShare))!)),
                BenchRow(key: keys[1], label: "pvmh share-or-unshare call / pvmh raw exit (same VMM loop)",
                         measurement: .ratio(Summary(pairedRatios(pvmhShare, pvmhRaw))!)),
                BenchRow(key: keys[2], label: "C share-or-unshare call / C raw exit (the kernel's floor for a doorbell call)",
                         measurement: .ratio(Summary(pairedRatios(cShare, cRaw))!)),
                BenchRow(key: "transport.c-share-syncregs/c-raw",
                         label: "C share-or-unshare call with KVM_CAP_SYNC_REGS (no GET/SET_REGS ioctls) / C raw exit",
                         measurement: .ratio(Summary(pairedRatios(cSync, cRaw))!)),
                BenchRow(key: "transport.c-raw", label: "raw doorbell-port exit round trip (C baseline)",
                         measurement: .value(Summary(cRaw)!.scaled(by: 1e-3), unit: "µs")),
            ])
        } catch {
            return BenchFigure(number: 3, id: "transport", title: title, rows: [
                .skipped(keys[0], main, "\(error)", goal: goal), .skipped(keys[1], "pvmh share-or-unshare / pvmh raw exit", "\(error)"),
                .skipped(keys[2], "C share-or-unshare / C raw exit", "\(error)"),
            ])
        }
        #else
        return BenchFigure(number: 3, id: "transport", title: title, rows: [])
        #endif
    }
}
