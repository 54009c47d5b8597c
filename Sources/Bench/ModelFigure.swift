import GuestImage
import Lifecycle
import PKVMModel

/// Figure 6: the pKVM model. Its A64 interpreter's speed on a compute-bound
/// loop next to QEMU TCG running the same ELF, and the demo guest's whole
/// lifecycle on the model.
///
/// Both rates come from the same method, which cancels each side's fixed
/// costs (process start, machine setup, teardown): run the loop for a small
/// and a large iteration count, and divide the difference in instructions by
/// the difference in wall time.
enum ModelFigure {
    static let ramSize: UInt64 = 4 << 20

    static func run(_ configuration: BenchConfiguration, progress: (String) -> Void) -> BenchFigure {
        let title = "pKVM model: A64 interpreter vs QEMU TCG on the same compute loop; demo lifecycle on the model"
        var rows: [BenchRow] = []
        let small: UInt32 = 1_000
        let modelLarge: UInt32 = configuration.quick ? 200_000 : 25_000_000
        let qemuLarge: UInt32 = configuration.quick ? 20_000_000 : 500_000_000
        let perIteration = Double(BenchImages.computeLoopInstructionsPerIteration)
        let repetitions = configuration.quick ? configuration.repetitions : max(3, configuration.repetitions / 2)
        let images = [small, modelLarge, qemuLarge].map { BenchImages.arm64ComputeLoop(iterations: $0) }

        var contenders: [() throws -> Double] = [
            { try modelRun(images[0], name: "compute-loop").nanoseconds },
            { try modelRun(images[1], name: "compute-loop").nanoseconds },
        ]
        let qemu = Toolchain.qemu("qemu-system-aarch64", install: configuration.installQEMU ? "install-qemu" : nil,
                                  configuration, progress: progress)
        var scratch: String?
        var qemuProblem: String?
        if case .success(let executable) = qemu, let directory = HostFiles.temporaryDirectory() {
            scratch = directory
            let paths = ["\(directory)/loop-small.elf", "\(directory)/loop-large.elf"]
            _ = HostFiles.write(images[0], to: paths[0])
            _ = HostFiles.write(images[2], to: paths[1])
            for path in paths {
                contenders.append {
                    let arguments = ["-M", "virt", "-cpu", "max", "-m", "128M", "-accel", "tcg", "-nodefaults", "-display", "none",
                                     "-monitor", "none", "-serial", "null", "-no-reboot", "-kernel", path]
                    switch Subprocess.run(executable, arguments, timeoutSeconds: 120) {
                    case .failure(let failure): throw failure
                    case .success(let outcome) where outcome.exitCode != 0:
                        throw BenchFailure("qemu-system-aarch64 did not power off cleanly running the compute loop (exit \(outcome.exitCode.map(String.init) ?? "by signal"))")
                    case .success(let outcome): return outcome.wallNanoseconds
                    }
                }
            }
        } else if case .failure(let why) = qemu {
            qemuProblem = why.description
        }
        defer { if let scratch { HostFiles.removeDirectory(scratch) } }

        let modelKey = "model.interpreter-rate", qemuKey = "model.qemu-tcg-rate", ratioKey = "model.qemu/model"
        let modelLabel = "A64 interpreter on the model, compute loop", qemuLabel = "QEMU TCG (qemu-system-aarch64 -cpu max), same ELF"
        let ratioLabel = "QEMU TCG rate / model interpreter rate"
        do {
            let s = try interleavedMeasurements(repetitions: repetitions, warmup: 1, contenders)
            let modelRates = zip(s[1], s[0]).map { perIteration * Double(modelLarge - small) / max(1, $0 - $1) * 1e3 }
            rows.append(BenchRow(key: modelKey, label: modelLabel, measurement: .value(Summary(modelRates)!, unit: "M instr/s"),
                                 note: "(T(\(modelLarge) iterations) − T(\(small))) on the model's full lifecycle"))
            if s.count == 4 {
                let qemuRates = zip(s[3], s[2]).map { perIteration * Double(qemuLarge - small) / max(1, $0 - $1) * 1e3 }
                rows.append(BenchRow(key: qemuKey, label: qemuLabel, measurement: .value(Summary(qemuRates)!, unit: "M instr/s"),
                                     note: "(T(\(qemuLarge) iterations) − T(\(small))) of whole QEMU processes: startup cancels"))
                rows.append(BenchRow(key: ratioKey, label: ratioLabel, measurement: .ratio(Summary(pairedRatios(qemuRates, modelRates))!)))
            } else {
                let why = qemuProblem ?? "no temporary directory for the QEMU images"
                rows.append(.skipped(qemuKey, qemuLabel, why))
                rows.append(.skipped(ratioKey, ratioLabel, why))
            }
        } catch {
            rows += [.skipped(modelKey, modelLabel, "\(error)"), .skipped(qemuKey, qemuLabel, "\(error)"), .skipped(ratioKey, ratioLabel, "\(error)")]
        }

        // The demo guest end to end on the model.
        let demoLabel = "arm64-demo lifecycle on the model (create → boot → share/unshare → teardown)"
        do {
            guard let demo = BuiltinGuest.named("arm64-demo") else { throw BenchFailure("no built-in arm64-demo guest") }
            let times = try interleavedMeasurements(repetitions: configuration.repetitions, warmup: 1, [
                { try modelRun(demo.elfBytes, name: demo.name, expectPass: true).nanoseconds },
            ])[0]
            rows.append(BenchRow(key: "model.demo-lifecycle", label: demoLabel, measurement: .value(Summary(times)!.scaled(by: 1e-6), unit: "ms")))
        } catch {
            rows.append(.skipped("model.demo-lifecycle", demoLabel, "\(error)"))
        }
        return BenchFigure(number: 6, id: "model", title: title, rows: rows)
    }

    /// One lifecycle on the model, timed from parsing the ELF to the verdict.
    static func modelRun(_ elf: [UInt8], name: String, expectPass: Bool = false) throws(BenchFailure) -> (nanoseconds: Double, report: RunReport) {
        var report: RunReport?
        var failure: BenchFailure?
        let elapsed = timed {
            do {
                let image = try ELFImage(bytes: elf, expecting: .aarch64)
                let platform = PKVMModelPlatform(configuration: ModelConfiguration())
                let options = RunOptions(ram: GuestRAM(base: ARM64GuestProtocol.ramBase, size: ramSize), auditDescriptors: false)
                report = ProtectedVMLifecycle(platform: platform, journal: try Journal(), options: options, guestName: name).run(image: image)
            } catch {
                failure = BenchFailure("the model could not run \(name): \(error)")
            }
        }
        if let failure { throw failure }
        guard let report else { throw BenchFailure("the model produced no report for \(name)") }
        if expectPass && !report.passed {
            throw BenchFailure("\(name) failed on the model: \(report.failures.prefix(2).joined(separator: "; "))")
        }
        guard case .poweredOff? = report.stopReasons[0] else {
            throw BenchFailure("\(name) did not power off on the model: \(report.stopReasons[0].map { "\($0)" } ?? "no stop")")
        }
        return (elapsed, report)
    }
}
