import Glibc
import GuestImage
import KVM
import Lifecycle
import PKVMModel
import Platforms

/// The regression suite: every scenario, and the runner that prints KTAP.
public enum CheckCatalogue {
    public static func scenarios(repeatCount: Int) -> [Scenario] {
        TeardownScenarios.all + ARM64Scenarios.all + ProcessScenarios.all + GuestMemfdScenarios.all + ProtocolScenarios.all
            + [SoakScenario.scenario(repeatCount: repeatCount)]
    }

    /// (scenario, platform) pairs selected by --platform and --filter, in
    /// catalogue order. KTAP names are `scenario[platform]`.
    public static func selection(platforms: [CheckPlatform], filter: String?, repeatCount: Int) -> [(Scenario, CheckPlatform)] {
        var selected: [(Scenario, CheckPlatform)] = []
        for platform in platforms {
            for scenario in scenarios(repeatCount: repeatCount) where scenario.platforms.contains(platform) {
                let name = "\(scenario.name)[\(platform.rawValue)]"
                if let filter, !globMatches(filter, name) && !globMatches(filter, scenario.name) { continue }
                selected.append((scenario, platform))
            }
        }
        return selected
    }
}

/// Options of one `pvmh check` run.
public struct CheckOptions: Sendable {
    public var platforms: [CheckPlatform]
    public var filter: String?
    public var repeatCount: Int
    public var seed: UInt64
    public var executable: String?
    /// See `CheckContext.processIsExclusive`.
    public var processIsExclusive = true

    public init(platforms: [CheckPlatform], filter: String? = nil, repeatCount: Int = 10, seed: UInt64 = 1, executable: String? = nil) {
        self.platforms = platforms
        self.filter = filter
        self.repeatCount = repeatCount
        self.seed = seed
        self.executable = executable
    }
}

/// Runs the selected scenarios and writes KTAP through `emit`; `progress`
/// gets one human line per result. Returns the number of failures.
public enum CheckRunner {
    public static func run(_ options: CheckOptions, emit: @escaping (String) -> Void,
                           progress: (String, CheckOutcome, UInt64) -> Void = { _, _, _ in }) -> (passed: Int, failed: Int, skipped: Int) {
        let selected = CheckCatalogue.selection(platforms: options.platforms, filter: options.filter, repeatCount: options.repeatCount)
        var ktap = KTAPWriter(emit: emit)
        ktap.begin(count: selected.count)
        let kvmFactory = KVMPlatformFactory()
        for (index, (scenario, platform)) in selected.enumerated() {
            let context = CheckContext(platform: platform, seed: options.seed &+ UInt64(index), executable: options.executable) {
                () throws(LifecycleError) -> Platform in
                platform == .model ? PKVMModelPlatform() : try kvmFactory.make()
            }
            context.processIsExclusive = options.processIsExclusive
            if platform == .kvm { context.kvmPlatformID = kvmFactory.platformID }
            let name = "\(scenario.name)[\(platform.rawValue)]"
            let start = monotonicNanoseconds()
            var outcome: CheckOutcome
            if platform == .kvm, let reason = kvmFactory.unavailableReason {
                outcome = .skip(reason)
            } else {
                outcome = scenario.run(context)
            }
            for note in context.takeNotes() { ktap.diagnostic("\(name): \(note)") }
            ktap.result(name, outcome)
            progress(name, outcome, monotonicNanoseconds() - start)
        }
        ktap.finish()
        return (ktap.passed, ktap.failed, ktap.skipped)
    }
}

/// Makes the host's KVM platform, probing the hypercall transport once.
final class KVMPlatformFactory: @unchecked Sendable {
    private var probe: HostProbe?
    private(set) var unavailableReason: String?

    init() {
        let probe = HostProbe.gather(probeTransport: true)
        if probe.selected == nil {
            unavailableReason = "no KVM platform is usable here: \(probe.selectionReason)"
        }
        self.probe = probe
    }

    /// The id of the platform `make()` returns (nil when none is usable).
    var platformID: String? { unavailableReason == nil ? probe?.selected : nil }

    /// A fresh platform, with all guest memory allocated up front so what a
    /// scenario measures coming back was visibly taken first.
    func make() throws(LifecycleError) -> Platform {
        guard let probe, unavailableReason == nil else { throw .platformUnavailable(unavailableReason ?? "no probe") }
        let platform = try PlatformSelection.make(.kvm, probe: probe)
        #if arch(x86_64)
        (platform as? X86GuestMemfdPlatform)?.preallocate = true
        #endif
        (platform as? ARM64ProtectedPlatform)?.preallocate = true
        (platform as? ARM64GuestMemfdPlatform)?.preallocate = true
        return platform
    }
}
