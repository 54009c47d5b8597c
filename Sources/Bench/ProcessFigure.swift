import Glibc
import GuestImage

/// Figure 2: whole processes, from spawn to exit. `pvmh run` of the demo
/// guest, the C baseline process running the same ELF, and
/// `qemu-system-x86_64 -accel kvm` running a guest whose first instruction
/// exits QEMU (isa-debug-exit) — the least any QEMU run can do.
enum ProcessFigure {
    static let pvmhGoal = BenchGoal.atMost(2.5)
    static let qemuGoal = BenchGoal.atLeast(15)

    static let keys = ["process.pvmh/c", "process.qemu/pvmh", "process.pvmh-auto/c"]
    static let labels = [
        "`pvmh run --transport doorbell` / C baseline process",
        "`qemu-system-x86_64 -accel kvm` to exit / `pvmh run --transport doorbell`",
        "`pvmh run` (transport probed: +100 ms watchdog) / C baseline process",
    ]

    static func run(_ configuration: BenchConfiguration, kvm: String?, progress: (String) -> Void) -> BenchFigure {
        let title = "whole process, spawn to exit: pvmh run vs the C baseline process vs QEMU"
        func allSkipped(_ why: String) -> BenchFigure {
            BenchFigure(number: 2, id: "process", title: title, rows: [
                .skipped(keys[0], labels[0], why, goal: pvmhGoal), .skipped(keys[1], labels[1], why, goal: qemuGoal),
                .skipped(keys[2], labels[2], why),
            ])
        }
        if let kvm { return allSkipped(kvm) }
        guard let pvmh = Toolchain.pvmhExecutable(configuration) else {
            return allSkipped("no pvmh executable found (this process is not pvmh and none is beside it)")
        }
        guard let scratch = HostFiles.temporaryDirectory() else { return allSkipped("cannot create a temporary directory") }
        defer { HostFiles.removeDirectory(scratch) }
        let baseline: String
        switch Toolchain.buildBaselineProcess(configuration, into: scratch) {
        case .success(let path): baseline = path
        case .failure(let why): return allSkipped(why.description)
        }
        let elf = "\(scratch)/x86_64-demo.elf", bios = "\(scratch)/exit-bios.bin"
        if let why = HostFiles.write(BuiltinGuest.named("x86_64-demo")?.elfBytes ?? [], to: elf) { return allSkipped(why) }
        if let why = HostFiles.write(BenchImages.qemuExitBIOS(), to: bios) { return allSkipped(why) }
        let qemu = Toolchain.qemu("qemu-system-x86_64", install: configuration.installQEMU ? "install-qemu" : nil,
                                  configuration, progress: progress)

        func spawn(_ executable: String, _ arguments: [String], expect: Int32) throws -> Double {
            switch Subprocess.run(executable, arguments, timeoutSeconds: 30) {
            case .failure(let failure): throw failure
            case .success(let outcome):
                guard outcome.exitCode == expect else {
                    throw BenchFailure("\(executable) \(arguments.joined(separator: " ")) exited with \(outcome.exitCode.map(String.init) ?? "signal \(outcome.signal ?? 0)"), expected \(expect)")
                }
                return outcome.wallNanoseconds
            }
        }
        let pvmhRun = { try spawn(pvmh, ["run", "--transport", "doorbell"], expect: 0) }
        let pvmhAuto = { try spawn(pvmh, ["run"], expect: 0) }
        let cRun = { try spawn(baseline, [elf], expect: 0) }
        let pvmhHelp = { try spawn(pvmh, ["help"], expect: 0) }
        var contenders: [() throws -> Double] = [pvmhRun, cRun, pvmhAuto, pvmhHelp]
        var qemuMissing: String?
        switch qemu {
        case .success(let path):
            // Exit status (0 << 1) | 1: the guest wrote 0 to isa-debug-exit.
            contenders.append {
                try spawn(path, ["-accel", "kvm", "-M", "pc", "-m", "4M", "-nodefaults", "-display", "none",
                                 "-no-reboot", "-bios", bios, "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"], expect: 1)
            }
        case .failure(let why):
            qemuMissing = why.description
        }
        do {
            let s = try interleavedMeasurements(repetitions: configuration.repetitions, warmup: 1, contenders)
            let m = s.map { Summary($0)!.median }
            var note = "medians: pvmh run \(milliseconds(m[0])), C \(milliseconds(m[1])), pvmh run (probed) \(milliseconds(m[2]))"
            note += ", `pvmh help` \(milliseconds(m[3]))"
            if s.count > 4 { note += ", QEMU \(milliseconds(m[4]))" }
            var rows = [BenchRow(key: keys[0], label: labels[0], measurement: .ratio(Summary(pairedRatios(s[0], s[1]))!),
                                 goal: pvmhGoal, note: note)]
            if s.count > 4 {
                rows.append(BenchRow(key: keys[1], label: labels[1], measurement: .ratio(Summary(pairedRatios(s[4], s[0]))!), goal: qemuGoal))
            } else {
                rows.append(.skipped(keys[1], labels[1], qemuMissing ?? "QEMU did not run", goal: qemuGoal))
            }
            rows.append(BenchRow(key: keys[2], label: labels[2], measurement: .ratio(Summary(pairedRatios(s[2], s[1]))!)))
            rows.append(BenchRow(key: "process.pvmh-help/c", label: "`pvmh help` (Swift runtime start and exit, no VM) / C baseline process",
                                 measurement: .ratio(Summary(pairedRatios(s[3], s[1]))!)))
            rows.append(BenchRow(key: "process.c", label: "C baseline process, spawn to exit",
                                 measurement: .value(Summary(s[1])!.scaled(by: 1e-6), unit: "ms")))
            return BenchFigure(number: 2, id: "process", title: title, rows: rows)
        } catch {
            return allSkipped("\(error)")
        }
    }
}
