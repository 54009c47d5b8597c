import Glibc
import KVM

/// What `pvmh bench` runs and how hard.
public struct BenchConfiguration: Sendable {
    /// Everything small and fast: a smoke test, never a measurement to quote.
    public var quick: Bool
    /// Interleaved repetitions per figure (each gives one ratio).
    public var repetitions: Int
    /// The pvmh binary for the whole-process figure (default: this process's
    /// executable when it is pvmh, else a `pvmh` beside it).
    public var pvmhExecutable: String?
    /// The checkout holding Benchmarks/ (default: found from the executable
    /// or the working directory).
    public var sourceRoot: String?
    /// Run Benchmarks/install-qemu when qemu-system-x86_64 is missing.
    public var installQEMU: Bool
    /// `debug` or `release`, reported with the machine.
    public var build: String

    public init(quick: Bool, repetitions: Int? = nil, pvmhExecutable: String? = nil, sourceRoot: String? = nil,
                installQEMU: Bool? = nil, build: String) {
        self.quick = quick
        self.repetitions = repetitions ?? (quick ? 3 : 11)
        self.pvmhExecutable = pvmhExecutable
        self.sourceRoot = sourceRoot
        self.installQEMU = installQEMU ?? !quick
        self.build = build
    }
}

/// Runs every figure in order and reports what it measured. Never throws:
/// a figure that cannot be measured here has its rows marked skipped with
/// the reason.
public enum BenchSuite {
    /// Figure ids in order, for `--only` and the smoke test.
    public static let figureIDs = ["lifecycle", "process", "transport", "ledger", "teardown", "model"]

    public static func run(_ configuration: BenchConfiguration, only: Set<String>? = nil,
                           progress: (String) -> Void = { _ in }) -> BenchReport {
        var machine = MachineDescription.current(build: configuration.build)
        let kvm = kvmAvailability()
        var figures: [BenchFigure] = []
        func want(_ id: String) -> Bool { only?.contains(id) ?? true }
        if want("lifecycle") {
            progress("figure 1: in-process lifecycle, pvmh vs the C baseline")
            figures.append(LifecycleFigure.run(configuration, kvm: kvm))
        }
        if want("process") {
            progress("figure 2: whole process, pvmh run vs the C baseline vs QEMU")
            figures.append(ProcessFigure.run(configuration, kvm: kvm, progress: progress))
        }
        if want("transport") {
            progress("figure 3: share/unshare round trip vs a raw exit")
            figures.append(TransportFigure.run(configuration, kvm: kvm))
        }
        if want("ledger") {
            progress("figure 4: the ledger at scale")
            figures.append(LedgerFigure.run(configuration))
        }
        if want("teardown") {
            progress("figure 5: teardown of populated guest memory")
            figures.append(TeardownFigure.run(configuration, kvm: kvm))
        }
        if want("model") {
            progress("figure 6: the pKVM model next to QEMU TCG")
            figures.append(ModelFigure.run(configuration, progress: progress))
        }
        machine.loadAfter = MachineDescription.loadAverage()
        return BenchReport(quick: configuration.quick, machine: machine, figures: figures)
    }

    /// nil when the x86_64 KVM figures can run, else why not.
    static func kvmAvailability() -> String? {
        #if arch(x86_64)
        do {
            let system = try KVMSystem()
            guard (try? system.check(.guestMemfd)) ?? 0 > 0 else { return "this kernel has no guest_memfd" }
            return nil
        } catch {
            return "no usable /dev/kvm: \(error)"
        }
        #else
        return "the KVM figures compare against the x86_64 C baseline; this pvmh is not an x86_64 build"
        #endif
    }
}

extension BenchRow {
    static func skipped(_ key: String, _ label: String, _ reason: String, goal: BenchGoal? = nil) -> BenchRow {
        BenchRow(key: key, label: label, measurement: .skipped(reason), goal: goal)
    }
}

/// "12.3 ms" style medians for notes.
func milliseconds(_ nanoseconds: Double) -> String { formatted(nanoseconds / 1e6, digits: 2) + " ms" }
func microseconds(_ nanoseconds: Double) -> String { formatted(nanoseconds / 1e3, digits: 2) + " µs" }

/// `value` with `digits` decimals, without Foundation.
public func formatted(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return String(value) }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let negative = value < 0
    let scaled = (abs(value) * scale).rounded()
    let whole = (scaled / scale).rounded(.down)
    var fraction = String(Int64(scaled - whole * scale))
    while fraction.count < digits { fraction = "0" + fraction }
    let text = digits > 0 ? "\(Int64(whole)).\(fraction)" : "\(Int64(whole))"
    return negative ? "-" + text : text
}
