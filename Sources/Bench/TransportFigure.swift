import KVM
import Platforms

/// Figure 3: the cost of one share or unshare round trip (guest doorbell →
/// pvmh's ledger, mprotect, journal → guest) against one raw port-I/O exit
/// round trip on the same transport, each from a guest loop: per call =
/// (T(N calls) − T(0 calls)) / N, so boot and teardown cancel. On each RAM
/// backend. pvmh runs twice: reaching the registers with the ioctls (the
/// same kernel work as the C baseline's default) and through kvm_run's synced
/// area (KVM_CAP_SYNC_REGS, what `pvmh run` does where offered), each against
/// the C baseline doing the same.
enum TransportFigure {
    static let goal = BenchGoal.atMost(1.25)
    static let syncedOwnCostGoal = BenchGoal.atMost(1.05)
    static let syncedGoal = BenchGoal.atMost(2.0)
    static let ramSize: UInt64 = 4 << 20

    static func run(_ configuration: BenchConfiguration, kvm: [BenchBackend]) -> BenchFigure {
        let title = "share/unshare round trip vs a raw exit round trip (doorbell transport, per call), per RAM backend"
        return BenchFigure(number: 3, id: "transport", title: title, rows: kvm.flatMap { rows(configuration, on: $0) })
    }

    /// The rows of one backend: measured, or the goal rows skipped with the
    /// reason (the synced ones alone where the kernel does not sync REGS and SREGS).
    static func rows(_ configuration: BenchConfiguration, on backend: BenchBackend) -> [BenchRow] {
        let main = backend.label("pvmh share-or-unshare call (register ioctls) / raw doorbell-port exit (C baseline)")
        let keys = ["transport.pvmh-share/c-raw", "transport.pvmh-share/pvmh-raw", "transport.c-share/c-raw"].map(backend.key)
        let syncedKeys = ["transport.pvmh-share-syncregs/c-share-syncregs", "transport.pvmh-share-syncregs/c-raw"].map(backend.key)
        let syncedLabels = [
            backend.label("pvmh share-or-unshare call with synced registers / C call with synced registers (pvmh's own cost)"),
            backend.label("pvmh share-or-unshare call with synced registers / raw doorbell-port exit (C baseline)"),
        ]
        func skippedSynced(_ why: String) -> [BenchRow] {
            [.skipped(syncedKeys[0], syncedLabels[0], why, goal: syncedOwnCostGoal),
             .skipped(syncedKeys[1], syncedLabels[1], why, goal: syncedGoal)]
        }
        func skipped(_ why: String) -> [BenchRow] {
            [.skipped(keys[0], main, why, goal: goal),
             .skipped(keys[1], backend.label("pvmh share-or-unshare / pvmh raw exit"), why),
             .skipped(keys[2], backend.label("C share-or-unshare / C raw exit"), why)] + skippedSynced(why)
        }
        if let refusal = backend.refusal { return skipped(refusal) }
        #if arch(x86_64)
        do {
            // The synced rows need the kernel to sync REGS and SREGS (pvmh
            // reads EFER at each doorbell call); the others run regardless.
            let syncRefusal = X86KVMPlatform.syncRegsRefusal(try KVMSystem())
            let loops: UInt32 = configuration.quick ? 200 : 10_000
            let calls = Double(2 * loops)
            let share = try BenchImages.x86Bench(mode: .shareUnshare, count: loops)
            let raw = try BenchImages.x86Bench(mode: .rawExit, count: 2 * loops)
            let idle = try BenchImages.x86Bench(mode: .rawExit, count: 0)
            let ram = backend.backend
            func pvmh(_ elf: [UInt8], _ registers: X86RegisterAccess = .ioctls) throws -> Double {
                try Contenders.pvmh(elf: elf, guestName: "x86_64-bench", ramSize: ramSize, backend: ram, fullVerification: true,
                                    registerAccess: registers).nanoseconds
            }
            func c(_ elf: [UInt8], sync: Bool = false) throws -> Double {
                try Contenders.baseline(elf: elf, ramSize: ramSize, backend: ram, syncRegisters: sync).nanoseconds
            }
            var contenders: [() throws -> Double] = [
                { try pvmh(idle) }, { try pvmh(share) }, { try pvmh(raw) },
                { try c(idle) }, { try c(share) }, { try c(raw) },
            ]
            if syncRefusal == nil {
                contenders += [{ try c(share, sync: true) }, { try pvmh(idle, .syncRegs) }, { try pvmh(share, .syncRegs) }]
            }
            let s = try interleavedMeasurements(repetitions: configuration.repetitions, warmup: 1, contenders)
            func perCall(_ loaded: [Double], _ empty: [Double]) -> [Double] { zip(loaded, empty).map { ($0 - $1) / calls } }
            let pvmhShare = perCall(s[1], s[0]), pvmhRaw = perCall(s[2], s[0])
            let cShare = perCall(s[4], s[3]), cRaw = perCall(s[5], s[3])
            let m = [pvmhShare, pvmhRaw, cShare, cRaw].map { Summary($0)!.median }
            var note = "\(ram): per call: pvmh share/unshare \(microseconds(m[0])) with register ioctls, pvmh raw \(microseconds(m[1])), C share/unshare \(microseconds(m[2])), C raw \(microseconds(m[3])); \(Int(calls)) calls per run"
            var synced: [BenchRow] = []
            if let syncRefusal {
                synced = skippedSynced(syncRefusal)
            } else {
                let cSync = perCall(s[6], s[3]), pvmhSync = perCall(s[8], s[7])
                note += "; with synced registers: pvmh \(microseconds(Summary(pvmhSync)!.median)) (REGS|SREGS), C \(microseconds(Summary(cSync)!.median)) (REGS)"
                synced = [
                    BenchRow(key: syncedKeys[0], label: syncedLabels[0],
                             measurement: .ratio(Summary(pairedRatios(pvmhSync, cSync))!), goal: syncedOwnCostGoal),
                    BenchRow(key: syncedKeys[1], label: syncedLabels[1],
                             measurement: .ratio(Summary(pairedRatios(pvmhSync, cRaw))!), goal: syncedGoal),
                    BenchRow(key: backend.key("transport.c-share-syncregs/c-raw"),
                             label: backend.label("C share-or-unshare call with KVM_CAP_SYNC_REGS (no GET/SET_REGS ioctls) / C raw exit"),
                             measurement: .ratio(Summary(pairedRatios(cSync, cRaw))!)),
                ]
            }
            return [
                BenchRow(key: keys[0], label: main, measurement: .ratio(Summary(pairedRatios(pvmhShare, cRaw))!), goal: goal, note: note),
                BenchRow(key: backend.key("transport.pvmh-share/c-share"),
                         label: backend.label("pvmh share-or-unshare call / C share-or-unshare call, both with register ioctls (pvmh's own cost)"),
                         measurement: .ratio(Summary(pairedRatios(pvmhShare, cShare))!)),
                BenchRow(key: keys[1], label: backend.label("pvmh share-or-unshare call / pvmh raw exit (same VMM loop)"),
                         measurement: .ratio(Summary(pairedRatios(pvmhShare, pvmhRaw))!)),
                BenchRow(key: keys[2], label: backend.label("C share-or-unshare call / C raw exit (the kernel's floor for a doorbell call)"),
                         measurement: .ratio(Summary(pairedRatios(cShare, cRaw))!)),
            ] + synced + [
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
