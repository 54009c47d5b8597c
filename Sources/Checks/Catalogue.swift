import Glibc
import GuestImage
import KVM
import Lifecycle
import PKVMModel
import Platforms
import Timeline

/// The regression suite: every scenario, and the runner that prints KTAP.
public enum CheckCatalogue {
    public static func scenarios(repeatCount: Int) -> [Scenario] {
        TeardownScenarios.all + ARM64Scenarios.all + ProcessScenarios.all + GuestMemfdScenarios.all + MemfdScenarios.all + ProtocolScenarios.all
            + [SoakScenario.scenario(repeatCount: repeatCount)] + StressScenarios.all + AndroidScenarios.all
    }

    /// (scenario, target) pairs selected by --platform and --filter, in
    /// catalogue order. KTAP names are `scenario[label]`.
    public static func selection(targets: [CheckTarget], filter: String?, repeatCount: Int) -> [(Scenario, CheckTarget)] {
        var selected: [(Scenario, CheckTarget)] = []
        for target in targets {
            for scenario in scenarios(repeatCount: repeatCount) where scenario.platforms.contains(target.kind) {
                let name = "\(scenario.name)[\(target.label)]"
                if let filter, !globMatches(filter, name) && !globMatches(filter, scenario.name) { continue }
                selected.append((scenario, target))
            }
        }
        return selected
    }

    /// The same by platform kind, with the default labels.
    public static func selection(platforms: [CheckPlatform], filter: String?, repeatCount: Int) -> [(Scenario, CheckPlatform)] {
        selection(targets: platforms.map { CheckTarget(kind: $0) }, filter: filter, repeatCount: repeatCount).map { ($0.0, $0.1.kind) }
    }

    /// The targets a `--platform` word stands for on this host: `kvm` is the
    /// KVM platform auto picks, `all` every available KVM platform and the
    /// model, a platform id (`pvmh probe`) that one. nil for an unknown word.
    public static func targets(for request: String, probe: HostProbe) -> [CheckTarget]? {
        let available = probe.platforms.filter(\.available)
        let primary = CheckTarget(kind: .kvm, kvmPlatformID: probe.selected)
        switch request {
        case "kvm":
            return [primary]
        case "model":
            return [.model]
        case "auto":
            return probe.selected != nil ? [primary] : [.model]
        case "all":
            let others = available.dropFirst().map { CheckTarget(kind: .kvm, kvmPlatformID: $0.id, label: $0.id) }
            return [primary] + others + [.model]
        default:
            guard let row = probe.platforms.first(where: { $0.id == request }) else { return nil }
            return [CheckTarget(kind: .kvm, kvmPlatformID: row.available ? row.id : nil, label: row.id)]
        }
    }
}

/// Options of one `pvmh check` run.
public struct CheckOptions: Sendable {
    public var targets: [CheckTarget]
    /// Diagnostics printed right after the KTAP plan (seed, what `kvm` is).
    public var header: [String] = []
    public var filter: String?
    public var repeatCount: Int
    public var seed: UInt64
    public var executable: String?
    /// See `CheckContext.processIsExclusive`.
    public var processIsExclusive = true
    /// `--trace DIR`: each scenario that runs a lifecycle writes its
    /// timeline to `DIR/<scenario>.<platform label>.json`.
    public var traceDirectory: String?
    /// `--vcpus`, `--memory`, `--rounds`: the stress scenarios' load.
    public var stress = StressLoad()

    public init(targets: [CheckTarget], filter: String? = nil, repeatCount: Int = 10, seed: UInt64 = 1, executable: String? = nil) {
        self.targets = targets
        self.filter = filter
        self.repeatCount = repeatCount
        self.seed = seed
        self.executable = executable
    }

    /// Targets with their default labels; a `kvm` platform is the one auto picks.
    public init(platforms: [CheckPlatform], filter: String? = nil, repeatCount: Int = 10, seed: UInt64 = 1, executable: String? = nil) {
        let probe = platforms.contains(.kvm) ? HostProbe.gather(probeTransport: false) : nil
        self.init(targets: platforms.map { $0 == .kvm ? CheckTarget(kind: .kvm, kvmPlatformID: probe?.selected) : .model },
                  filter: filter, repeatCount: repeatCount, seed: seed, executable: executable)
    }
}

/// Runs the selected scenarios and writes KTAP through `emit`; `progress`
/// gets one human line per result. Returns the number of failures.
public enum CheckRunner {
    public static func run(_ options: CheckOptions, emit: @escaping (String) -> Void,
                           progress: (String, CheckOutcome, UInt64) -> Void = { _, _, _ in }) -> (passed: Int, failed: Int, skipped: Int) {
        let selected = CheckCatalogue.selection(targets: options.targets, filter: options.filter, repeatCount: options.repeatCount)
        var ktap = KTAPWriter(emit: emit)
        ktap.begin(count: selected.count)
        for line in options.header { ktap.diagnostic(line) }
        // One probe (with the transport probe) for every KVM target.
        let probe = options.targets.contains { $0.kind == .kvm } ? HostProbe.gather(probeTransport: true) : nil
        var factories: [String: KVMPlatformFactory] = [:]
        for (index, (scenario, target)) in selected.enumerated() {
            var factory: KVMPlatformFactory?
            if target.kind == .kvm, let probe {
                let key = target.kvmPlatformID ?? ""
                factory = factories[key] ?? KVMPlatformFactory(probe: probe, platformID: target.kvmPlatformID)
                factories[key] = factory
            }
            let kvmFactory = factory
            let context = CheckContext(platform: target.kind, seed: options.seed &+ UInt64(index), executable: options.executable) {
                () throws(LifecycleError) -> Platform in
                guard let kvmFactory else { return PKVMModelPlatform() }
                return try kvmFactory.make()
            }
            context.processIsExclusive = options.processIsExclusive
            context.stress = options.stress
            context.repeatCount = options.repeatCount
            if options.traceDirectory != nil { context.traces = TraceCollection(label: "\(scenario.name)[\(target.label)]") }
            context.kvmPlatformID = factory?.platformID
            if let factory, let traits = factory.traits, let abi = factory.guestABI {
                context.traits = traits
                context.guestABI = abi
            }
            let name = "\(scenario.name)[\(target.label)]"
            let start = monotonicNanoseconds()
            var outcome: CheckOutcome
            if let factory, let reason = factory.unavailableReason {
                outcome = .skip(reason)
            } else {
                outcome = scenario.run(context)
            }
            if let directory = options.traceDirectory, let traces = context.traces, !traces.recorders.isEmpty {
                context.note(writeTrace(traces, to: "\(directory)/\(scenario.name).\(target.label).json"))
            }
            for note in context.takeNotes() { ktap.diagnostic("\(name): \(note)") }
            ktap.result(name, outcome)
            progress(name, outcome, monotonicNanoseconds() - start)
        }
        ktap.finish()
        return (ktap.passed, ktap.failed, ktap.skipped)
    }
}

extension CheckRunner {
    /// Writes one scenario's trace; the KTAP diagnostic says where, or why not.
    static func writeTrace(_ traces: TraceCollection, to path: String) -> String {
        do {
            try OutputFile(path: path).write(traces.json)
            return "trace: \(path)"
        } catch {
            return "trace not written to \(path): \(error)"
        }
    }
}

/// Makes one KVM platform of this host (`platformID`, or the one auto picks).
final class KVMPlatformFactory: Sendable {
    private let probe: HostProbe
    /// The id of the platform `make()` returns (nil when none is usable).
    let platformID: String?
    /// Why no platform can be made ("no KVM platform is usable here: …"), or nil.
    let unavailableReason: String?
    /// What the platform is made of and offers its guests (nil when none can be made).
    let traits: PlatformTraits?
    let guestABI: GuestABI?

    init(probe: HostProbe, platformID: String? = nil) {
        self.probe = probe
        do {
            let row = try PlatformSelection.resolve(probe: probe, platformID: platformID)
            // One instance to read its description; it opens /dev/kvm but
            // creates no VM, and destroy closes that again.
            let sample = try PlatformSelection.make(.kvm, probe: probe, platformID: row.id)
            traits = sample.description.traits
            guestABI = sample.guestABI
            try? sample.destroy()
            self.platformID = row.id
            unavailableReason = nil
        } catch {
            self.platformID = nil
            unavailableReason = error.description
            traits = nil
            guestABI = nil
        }
    }

    /// A factory with a fresh probe (transport included).
    convenience init(platformID: String? = nil) {
        self.init(probe: HostProbe.gather(probeTransport: true), platformID: platformID)
    }

    /// A fresh platform, with all guest memory allocated up front so what a
    /// scenario measures coming back was visibly taken first.
    func make() throws(LifecycleError) -> Platform {
        guard let platformID, unavailableReason == nil else { throw .platformUnavailable(unavailableReason ?? "no probe") }
        let platform = try PlatformSelection.make(.kvm, probe: probe, platformID: platformID)
        platform.preallocate = true
        return platform
    }
}
