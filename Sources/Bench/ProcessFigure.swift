import Glibc
import GuestImage
import Platforms

/// Figure 2: whole processes, from spawn to exit. `pvmh run` of the demo
/// guest, the C baseline process running the same ELF, and
/// `qemu-system-x86_64 -accel kvm` running a guest whose first instruction
/// exits QEMU (isa-debug-exit) — the least any QEMU run can do. pvmh and the
/// C process are given the same RAM backend (`--memory-backend`), one set of
/// rows per backend; QEMU and `pvmh help` have no backend and run in each
/// set, so every ratio pairs samples of the same repetitions.
enum ProcessFigure {
    /// With the transport given, no probe and no cache is consulted.
    static let pvmhGoal = BenchGoal.atMost(2.0)
    /// The default run: the transport from this boot's cache (Docs/performance.md).
    static let pvmhDefaultGoal = BenchGoal.atMost(2.5)
    static let qemuGoal = BenchGoal.atLeast(15)

    static let keys = ["process.pvmh/c", "process.qemu/pvmh", "process.pvmh-auto/c"]
    static let labels = [
        "`pvmh run --transport doorbell` / C baseline process",
        "`qemu-system-x86_64 -accel kvm` to exit / `pvmh run --transport doorbell`",
        "default `pvmh run` (transport from this boot's cache) / C baseline process",
    ]

    /// The three goal rows of one backend, skipped with `why`.
    static func skipped(_ backend: BenchBackend, _ why: String) -> [BenchRow] {
        [.skipped(backend.key(keys[0]), backend.label(labels[0]), why, goal: pvmhGoal),
         .skipped(backend.key(keys[1]), backend.label(labels[1]), why, goal: qemuGoal),
         .skipped(backend.key(keys[2]), backend.label(labels[2]), why, goal: pvmhDefaultGoal)]
    }

    static func run(_ configuration: BenchConfiguration, kvm: [BenchBackend], progress: (String) -> Void) -> BenchFigure {
        let title = "whole process, spawn to exit: pvmh run vs the C baseline process vs QEMU, per RAM backend"
        func figure(_ rows: [BenchRow]) -> BenchFigure { BenchFigure(number: 2, id: "process", title: title, rows: rows) }
        /// Every backend skipped: with its own refusal, or `why` (a missing tool) where it could have run.
        func allSkipped(_ why: String) -> BenchFigure { figure(kvm.flatMap { skipped($0, $0.refusal ?? why) }) }
        // No backend runs here: every row says why its own backend cannot.
        guard kvm.contains(where: { $0.refusal == nil }) else { return allSkipped("no RAM backend runs here") }
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
        let tools = Tools(pvmh: pvmh, baseline: baseline, elf: elf, bios: bios, qemu: qemu)
        return figure(kvm.flatMap { backend in
            if let refusal = backend.refusal { return skipped(backend, refusal) }
            return rows(configuration, on: backend, tools)
        })
    }

    /// What the contenders run: built or found once, shared by the backends.
    struct Tools {
        let pvmh: String
        let baseline: String
        let elf: String
        let bios: String
        let qemu: Result<String, BenchFailure>
    }

    static func spawn(_ executable: String, _ arguments: [String], expect: Int32) throws -> Double {
        switch Subprocess.run(executable, arguments, timeoutSeconds: 30) {
        case .failure(let failure): throw failure
        case .success(let outcome):
            guard outcome.exitCode == expect else {
                throw BenchFailure("\(executable) \(arguments.joined(separator: " ")) exited with \(outcome.exitCode.map(String.init) ?? "signal \(outcome.signal ?? 0)"), expected \(expect)")
            }
            return outcome.wallNanoseconds
        }
    }

    /// The rows of one backend the host runs.
    static func rows(_ configuration: BenchConfiguration, on backend: BenchBackend, _ tools: Tools) -> [BenchRow] {
        // Given explicitly to both, so neither picks a backend by probing.
        let memory = ["--memory-backend", backend.backend.rawValue]
        let pvmhRun = { try spawn(tools.pvmh, ["run", "--transport", "doorbell"] + memory, expect: 0) }
        let pvmhAuto = { try spawn(tools.pvmh, ["run"] + memory, expect: 0) }
        let cRun = { try spawn(tools.baseline, memory + [tools.elf], expect: 0) }
        let pvmhHelp = { try spawn(tools.pvmh, ["help"], expect: 0) }
        var contenders: [() throws -> Double] = [pvmhRun, cRun, pvmhAuto, pvmhHelp]
        var qemuMissing: String?
        switch tools.qemu {
        case .success(let path):
            // Exit status (0 << 1) | 1: the guest wrote 0 to isa-debug-exit.
            contenders.append {
                try spawn(path, ["-accel", "kvm", "-M", "pc", "-m", "4M", "-nodefaults", "-display", "none",
                                 "-no-reboot", "-bios", tools.bios, "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"], expect: 1)
            }
        case .failure(let why):
            qemuMissing = why.description
        }
        do {
            let s = try interleavedMeasurements(repetitions: configuration.repetitions, warmup: 1, contenders)
            let m = s.map { Summary($0)!.median }
            var note = "\(backend.backend): medians: pvmh run \(milliseconds(m[0])), C \(milliseconds(m[1])), default pvmh run \(milliseconds(m[2]))"
            note += ", `pvmh help` \(milliseconds(m[3]))"
            if s.count > 4 { note += ", QEMU \(milliseconds(m[4]))" }
            var rows = [BenchRow(key: backend.key(keys[0]), label: backend.label(labels[0]),
                                 measurement: .ratio(Summary(pairedRatios(s[0], s[1]))!), goal: pvmhGoal, note: note)]
            if s.count > 4 {
                rows.append(BenchRow(key: backend.key(keys[1]), label: backend.label(labels[1]),
                                     measurement: .ratio(Summary(pairedRatios(s[4], s[0]))!), goal: qemuGoal))
            } else {
                rows.append(.skipped(backend.key(keys[1]), backend.label(labels[1]), qemuMissing ?? "QEMU did not run", goal: qemuGoal))
            }
            rows.append(BenchRow(key: backend.key(keys[2]), label: backend.label(labels[2]),
                                 measurement: .ratio(Summary(pairedRatios(s[2], s[1]))!), goal: pvmhDefaultGoal))
            rows.append(BenchRow(key: backend.key("process.pvmh-help/c"),
                                 label: backend.label("`pvmh help` (Swift runtime start and exit, no VM) / C baseline process"),
                                 measurement: .ratio(Summary(pairedRatios(s[3], s[1]))!)))
            rows.append(BenchRow(key: backend.key("process.c"), label: backend.label("C baseline process, spawn to exit"),
                                 measurement: .value(Summary(s[1])!.scaled(by: 1e-6), unit: "ms")))
            return rows
        } catch {
            return skipped(backend, "\(error)")
        }
    }
}
