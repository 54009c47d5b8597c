import Glibc
import KVM
import Platforms

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
    public static let figureIDs = ["lifecycle", "process", "transport", "ledger", "teardown", "model", "stress"]

    public static func run(_ configuration: BenchConfiguration, only: Set<String>? = nil,
                           progress: (String) -> Void = { _ in }) -> BenchReport {
        var machine = MachineDescription.current(build: configuration.build)
        let kvm = kvmBackends()
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
        if want("stress") {
            progress("figure 7: a stressed VM's teardown and zero check, pvmh vs the C baseline")
            figures.append(StressFigure.run(configuration, kvm: kvm))
        }
        machine.loadAfter = MachineDescription.loadAverage()
        return BenchReport(quick: configuration.quick, machine: machine, figures: figures)
    }

    /// The RAM backends the x86_64 KVM figures (1, 2, 3, 5) measure, in row
    /// order — guest_memfd, then memfd — each with why it cannot run here,
    /// if it cannot. Both are always listed, so a backend the host lacks
    /// still has its rows, skipped with the reason.
    static func kvmBackends() -> [BenchBackend] {
        #if arch(x86_64)
        let system: KVMSystem
        do {
            system = try KVMSystem()
        } catch {
            return RAMBackend.allCases.map { BenchBackend($0, refusal: "no usable /dev/kvm: \(error)") }
        }
        // The platform's own test, so the bench skips guest_memfd exactly
        // where `pvmh run --memory-backend gmem` would refuse it. Every KVM
        // takes a memfd.
        let gmem = X86KVMPlatform.guestMemfdRefusal(system).map(BenchBackend.withoutRunAdvice)
        return [BenchBackend(.guestMemfd, refusal: gmem), BenchBackend(.memfd, refusal: nil)]
        #else
        let why = "the KVM figures compare against the x86_64 C baseline; this pvmh is not an x86_64 build"
        return RAMBackend.allCases.map { BenchBackend($0, refusal: why) }
        #endif
    }
}

/// One RAM backend of the x86_64 KVM figures. pvmh and the C baseline do
/// different kernel work on guest_memfd and on a memfd (a VM-owned file in a
/// `KVM_MEM_GUEST_MEMFD` slot, or shmem in a plain slot), so every ratio
/// pairs the two on the same backend, and each backend has its own rows.
struct BenchBackend: Sendable {
    let backend: RAMBackend
    /// nil when this host runs the backend, else why not (its rows are
    /// skipped with this reason).
    let refusal: String?

    init(_ backend: RAMBackend, refusal: String?) {
        self.backend = backend
        self.refusal = refusal
    }

    /// A row's key on this backend: guest_memfd rows keep the keys they had
    /// before memfd rows existed (`lifecycle.pvmh/c`), memfd rows add
    /// `@memfd` (`lifecycle.pvmh/c@memfd`).
    func key(_ base: String) -> String {
        backend == .guestMemfd ? base : "\(base)@\(backend.rawValue)"
    }

    /// A row's label on this backend, e.g. "… / C baseline [memfd]".
    func label(_ base: String) -> String { "\(base) [\(backend)]" }

    /// The platform's refusal ends by telling `pvmh run` users which option
    /// to give instead; the bench has no such option (it measures memfd in
    /// rows of its own), so that advice is dropped from a skip reason.
    static func withoutRunAdvice(_ refusal: String) -> String {
        guard let advice = refusal.firstRange(of: "; use --memory-backend") else { return refusal }
        return String(refusal[..<advice.lowerBound])
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
