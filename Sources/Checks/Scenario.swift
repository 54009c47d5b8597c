import Lifecycle
import PKVMModel
import Timeline

/// Where a scenario runs.
public enum CheckPlatform: String, Sendable, CaseIterable, Comparable {
    /// A KVM platform of this host (each available one with `--platform all`).
    case kvm
    /// The pKVM model.
    case model

    public static func < (a: CheckPlatform, b: CheckPlatform) -> Bool { a.rawValue < b.rawValue }
}

/// One platform a run of the suite covers: the model, or one KVM platform
/// of this host. KTAP names carry its label: `scenario[label]`.
public struct CheckTarget: Sendable, Equatable {
    public var kind: CheckPlatform
    /// The KVM platform's id, e.g. "x86_64-memfd" (nil on the model, and
    /// where no KVM platform is usable: then its scenarios skip).
    public var kvmPlatformID: String?
    /// "model"; "kvm" for the KVM platform `--platform auto` picks; the
    /// platform id for each further one `--platform all` adds.
    public var label: String

    public init(kind: CheckPlatform, kvmPlatformID: String? = nil, label: String? = nil) {
        self.kind = kind
        self.kvmPlatformID = kvmPlatformID
        self.label = label ?? kind.rawValue
    }

    public static let model = CheckTarget(kind: .model)
}

/// What a scenario expects to see.
public enum ExpectedVerdict: String, Sendable {
    /// Everything clean.
    case clean
    /// A broken order must be detected: the scenario passes when it is caught.
    case faultCaught = "fault caught"
}

/// One regression check: a name, where it applies, what it expects, and the
/// code that runs it and decides.
public struct Scenario: Sendable {
    public var name: String
    public var platforms: [CheckPlatform]
    public var expected: ExpectedVerdict
    /// One line: what it checks (for --list and Docs/checks.md).
    public var summary: String
    public var run: @Sendable (CheckContext) -> CheckOutcome

    public init(_ name: String, on platforms: [CheckPlatform], expects expected: ExpectedVerdict = .clean,
                _ summary: String, run: @escaping @Sendable (CheckContext) -> CheckOutcome) {
        self.name = name
        self.platforms = platforms
        self.expected = expected
        self.summary = summary
        self.run = run
    }
}

/// Everything a scenario run needs.
// @unchecked: notes and the PRNG are used by the one thread running the scenario;
// only `makePlatform` (a @Sendable closure) crosses to other threads.
public final class CheckContext: @unchecked Sendable {
    public let platform: CheckPlatform
    /// Makes a fresh platform instance for one lifecycle.
    public let makePlatform: @Sendable () throws(LifecycleError) -> Platform
    /// Seed for the random choices (kill points); runs are reproducible with --seed.
    public let seed: UInt64
    /// The pvmh executable, for scenarios that need a child VMM.
    public let executable: String?
    /// Whether this process runs no other VM while scenarios run, so the
    /// process-wide fd audit is exact (true for `pvmh check`; in-process
    /// tests share the process with other suites and turn it off).
    public var processIsExclusive = true
    /// Which KVM platform `makePlatform` makes (`pvmh probe`'s id, e.g.
    /// "arm64-pkvm"), for a child VMM to make the same; nil on the model.
    /// The runner sets it.
    public var kvmPlatformID: String?
    /// What the platform `makePlatform` makes is made of, and what it offers
    /// its guests. The runner sets them (the model's by default).
    public var traits = PKVMModelPlatform.traits
    public var guestABI = GuestABI.arm64Model
    /// The meminfo counter the platform's guest memory moves.
    public var memoryCounter: MemoryCounter { .forPlatform(traits) }
    /// Whether the platform is a pKVM protected VM, whose memslots cannot
    /// be deleted after the first run and whose pages pKVM pins.
    public var isProtectedKVM: Bool { traits.flavour == .protectedVM }
    /// Where the scenario's lifecycles record their timelines (`pvmh check
    /// --trace DIR`); nil records nothing. Contexts a scenario makes for
    /// itself pass it on (`derived`).
    public var traces: TraceCollection?
    /// How hard the stress scenarios push (`pvmh check --vcpus --memory --rounds`).
    public var stress = StressLoad()
    /// Lifecycles in the soak scenarios (`--repeat`).
    public var repeatCount = 10
    /// Diagnostics for the KTAP stream.
    public private(set) var notes: [String] = []
    private var random: SplitMix64

    public init(platform: CheckPlatform, seed: UInt64, executable: String?,
                makePlatform: @escaping @Sendable () throws(LifecycleError) -> Platform) {
        self.platform = platform
        self.seed = seed
        self.executable = executable
        self.makePlatform = makePlatform
        random = SplitMix64(seed: seed)
    }

    /// A context for the same scenario on another platform instance (a
    /// model configured differently): the same seed, executable, process
    /// exclusivity and trace collection.
    public func derived(makePlatform: @escaping @Sendable () throws(LifecycleError) -> Platform) -> CheckContext {
        let context = CheckContext(platform: platform, seed: seed, executable: executable, makePlatform: makePlatform)
        context.processIsExclusive = processIsExclusive
        context.traces = traces
        context.stress = stress
        context.repeatCount = repeatCount
        return context
    }

    public func note(_ text: String) { notes.append(text) }
    public func takeNotes() -> [String] {
        defer { notes.removeAll() }
        return notes
    }

    public func nextRandom(below bound: UInt64) -> UInt64 { random.next() % max(bound, 1) }
}

/// `*` and `?` glob matching for --filter.
public func globMatches(_ pattern: String, _ text: String) -> Bool {
    let p = Array(pattern), t = Array(text)
    var pi = 0, ti = 0, star = -1, mark = 0
    while ti < t.count {
        if pi < p.count && (p[pi] == "?" || p[pi] == t[ti]) {
            pi += 1
            ti += 1
        } else if pi < p.count && p[pi] == "*" {
            star = pi
            mark = ti
            pi += 1
        } else if star >= 0 {
            pi = star + 1
            mark += 1
            ti = mark
        } else {
            return false
        }
    }
    while pi < p.count && p[pi] == "*" { pi += 1 }
    return pi == p.count
}
