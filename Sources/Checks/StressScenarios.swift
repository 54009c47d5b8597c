import Glibc
import GuestImage
import Synchronization
import Lifecycle
import PKVMModel
import System

/// How hard the stress scenarios push (`pvmh check --vcpus --memory --rounds`).
public struct StressLoad: Sendable, Equatable {
    public var vcpus: Int
    public var memory: UInt64
    /// Rounds per vCPU for the scenarios that let the guest finish.
    public var rounds: UInt64

    public init(vcpus: Int = 4, memory: UInt64 = 16 << 20, rounds: UInt64 = 32) {
        self.vcpus = vcpus
        self.memory = memory
        self.rounds = rounds
    }

    /// The vCPUs a platform offering `abi` runs of these.
    func vcpus(on abi: GuestABI) -> Int { min(vcpus, abi.maximumVCPUs, StressParameters.maximumVCPUs) }

    /// The platform's stress guest with this load's parameters (rounds 0:
    /// until stopped) and the run's seed.
    func image(for abi: GuestABI, rounds: UInt64, seed: UInt64, memory: UInt64? = nil) throws(LifecycleError) -> (String, ELFImage) {
        guard let guest = BuiltinGuest.stressGuest(for: abi.architecture) else {
            throw .badInput("there is no built-in stress guest for \(abi.architecture); rebuild with Guests/build --generate")
        }
        let name = guest.name
        let parameters = StressParameters(seed: seed, rounds: rounds, ramBase: abi.ramBase, ramSize: memory ?? self.memory,
                                          vcpus: vcpus(on: abi))
        do {
            guard let image = try guest.image().applying(parameters) else { throw LifecycleError.badInput("\(name) has no stress parameter block") }
            return (name, image)
        } catch let error as LifecycleError {
            throw error
        } catch {
            throw .badInput("built-in guest \(name) is corrupt: \(error)")
        }
    }
}

/// The stress guest on several vCPUs under the lifecycle's checks
/// (Docs/checks.md): a stressed run to the end, teardown while every vCPU
/// is sharing, a SIGKILLed child VMM under load, the broken kernel order
/// under load, and a soak of stressed lifecycles.
enum StressScenarios {
    static var all: [Scenario] {
        [
            Scenario("stress.run", on: [.kvm, .model],
                     "the stress guest on --vcpus vCPUs (default 4) with --memory (16 MiB) runs --rounds rounds per vCPU to the end: every vCPU's check passes, every page it used faults for the host before reclaim, every page of RAM reads zero after, kernel healthy, memory and fds back") { context in
                stressRun(context)
            },
            Scenario("stress.teardown-mid-share", on: [.kvm, .model],
                     "the stress guest runs without end and the VM is torn down as soon as every vCPU has shared pages: stop, reclaim, unbind, release, destroy all succeed, isolation and the zero check hold for every page, kernel healthy, memory and fds back") { context in
                teardownMidShare(context)
            },
            Scenario("stress.kill-under-load", on: [.kvm, .model],
                     "a child VMM running the stress guest on every vCPU is SIGKILLed at a seeded point while it shares (3 times): kernel healthy, memory back") { context in
                killUnderLoad(context)
            },
            Scenario("stress.kernel-unbind-before-reclaim", on: [.model], expects: .faultCaught,
                     "the model's kernel unbinds guest_memfd before the hypervisor reclaims, with the stress guest's pages all in use: the host fault must be reported") { context in
                kernelUnbindBeforeReclaim(context)
            },
            Scenario("stress.soak", on: [.kvm, .model],
                     "--repeat stressed lifecycles in a row (4 MiB, 16 rounds per vCPU): each passes, and no fd or memory is left at the end") { context in
                soak(context)
            },
        ]
    }

    // MARK: Scenarios

    static func stressRun(_ context: CheckContext) -> CheckOutcome {
        let load = context.stress
        let run: MeasuredRun
        do {
            let (name, image) = try load.image(for: context.guestABI, rounds: load.rounds, seed: context.seed)
            run = try LifecycleProbe.run(context, plan: .safe, image: image, guestName: name, memory: load.memory,
                                         vcpus: load.vcpus(on: context.guestABI), timeout: timeout(load.memory))
        } catch { return .skip("\(error)") }
        var verdict = TeardownVerdict()
        verdict.guestFinished(run)
        verdict.stressChecks(run, vcpus: load.vcpus(on: context.guestABI))
        // Every vCPU must have ended as a finished guest ends (halted or
        // powered off), none stopped by the VMM or failed.
        for (vcpu, reason) in run.report.stopReasons.sorted(by: { $0.key < $1.key }) where !reason.isCleanStop {
            verdict.failures.append("vCPU \(vcpu) \(reason)")
        }
        verdict.teardownClean(run)
        verdict.isolation(run)
        verdict.everyPageZero(run, memory: load.memory)
        verdict.host(run, context)
        verdict.failures += run.report.violations.map(\.description).filter { !verdict.failures.contains($0) }
        context.note(summary(run))
        return verdict.outcome
    }

    static func teardownMidShare(_ context: CheckContext) -> CheckOutcome {
        let load = context.stress
        let vcpus = load.vcpus(on: context.guestABI)
        let sharing = SharingVCPUs(count: vcpus)
        let run: MeasuredRun
        do {
            let (name, image) = try load.image(for: context.guestABI, rounds: 0, seed: context.seed)
            run = try LifecycleProbe.run(context, plan: .safe, image: image, guestName: name, memory: load.memory, vcpus: vcpus,
                                         timeout: timeout(load.memory)) { event, lifecycle in
                // Stop once every vCPU has had a share accepted: all of them
                // are in their share/unshare loop, some with pages shared.
                if case .memory(let request, .success, _, _, let vcpu, _) = event, request.operation == .share,
                   sharing.record(vcpu) {
                    lifecycle.requestStop()
                }
            }
        } catch { return .skip("\(error)") }
        var verdict = TeardownVerdict()
        if !sharing.all { verdict.failures.append("only \(sharing.seen) of \(vcpus) vCPUs shared a page before the run ended") }
        if run.report.timedOut { verdict.failures.append("the run timed out instead of being stopped mid-share") }
        verdict.teardownClean(run)
        verdict.isolation(run)
        verdict.everyPageZero(run, memory: load.memory)
        verdict.host(run, context)
        verdict.failures += run.report.violations.map(\.description).filter { !verdict.failures.contains($0) }
        let shared = run.report.phases.first { $0.0 == "ran" }?.1.shared ?? 0
        context.note("stopped with \(shared) pages shared, \(run.report.memoryRequests) requests made by \(vcpus) vCPUs (seed \(context.seed))")
        return verdict.outcome
    }

    static func killUnderLoad(_ context: CheckContext) -> CheckOutcome {
        guard let executable = context.executable else { return .skip("needs the pvmh executable to start a child VMM") }
        let load = context.stress
        let platformArgument = context.platform == .model ? "model" : (context.kvmPlatformID ?? "kvm")
        return ProcessScenarios.measured(context) {
            var failures: [String] = []
            for round in 1...3 {
                let delayMicroseconds = context.nextRandom(below: 300_000)
                let child: ChildProcess
                do {
                    child = try ChildProcess(executable, ["_child", "stress", "\(load.memory >> 20)M", platformArgument,
                                                          String(load.vcpus(on: context.guestABI)), String(context.seed &+ UInt64(round))],
                                             environment: ProcessScenarios.childEnvironment)
                } catch {
                    failures.append("round \(round): \(error)")
                    break
                }
                guard child.waitForOutput("guest under load", seconds: timeout(load.memory)) else {
                    failures.append("round \(round): the child VMM did not get its guest sharing (\(child.output.suffix(200)))")
                    kill(child.pid, SIGKILL)
                    _ = child.wait(seconds: 10)
                    continue
                }
                usleep(UInt32(delayMicroseconds))
                if round == 1, context.platform == .kvm { failures += ProcessScenarios.requireHeld(ProcessScenarios.heldAboveBaseline(), of: load.memory, context) }
                kill(child.pid, SIGKILL)
                let end = child.wait(seconds: 10)
                context.note("round \(round): SIGKILL \(delayMicroseconds / 1000) ms after every vCPU shared (seed \(context.seed))")
                if end.signal != SIGKILL {
                    failures.append("round \(round): the child ended with \(end.exitCode.map { "exit \($0)" } ?? "signal \(end.signal ?? 0)"), not SIGKILL (\(child.output.suffix(200)))")
                }
            }
            return failures
        }
    }

    static func kernelUnbindBeforeReclaim(_ context: CheckContext) -> CheckOutcome {
        let load = context.stress
        return TeardownScenarios.kernelUnbindBeforeReclaim(context, situation: " under load") { broken throws(LifecycleError) in
            let (name, image) = try load.image(for: GuestABI.arm64Model, rounds: load.rounds, seed: context.seed)
            _ = try LifecycleProbe.run(broken, plan: .safe, image: image, guestName: name, memory: load.memory,
                                       vcpus: load.vcpus(on: GuestABI.arm64Model), timeout: timeout(load.memory))
        }
    }

    static func soak(_ context: CheckContext) -> CheckOutcome {
        let load = StressLoad(vcpus: context.stress.vcpus, memory: 4 << 20, rounds: 16)
        let vcpus = load.vcpus(on: context.guestABI)
        return SoakScenario.run(context, count: context.repeatCount, what: "stressed lifecycles") { index throws(LifecycleError) in
            let (_, image) = try load.image(for: context.guestABI, rounds: load.rounds, seed: context.seed &+ UInt64(index))
            return (image, RunOptions(ram: context.guestABI.ram(size: load.memory), vcpus: vcpus, timeoutSeconds: timeout(load.memory),
                                      auditDescriptors: false, verificationSeed: context.seed))
        }
    }

    // MARK: Helpers

    /// As `pvmh run`'s default for a stress guest.
    static func timeout(_ memory: UInt64) -> Double { StressParameters.timeoutSeconds(memory: memory) }

    static func summary(_ run: MeasuredRun) -> String {
        let zeroed = run.journal.events(named: "verify.zeroed").first
        return "\(run.report.memoryRequests) requests, \(run.report.isolationProbes.count) pages probed before reclaim, "
            + "\(zeroed?["checked"]?.serialized ?? "?") pages checked for zero after"
    }
}

/// Which vCPUs have had a share accepted; `record` says true once, when the last one has.
final class SharingVCPUs: Sendable {
    private let state = Mutex<(seen: Set<Int>, fired: Bool)>(([], false))
    private let count: Int

    init(count: Int) { self.count = count }

    func record(_ vcpu: Int) -> Bool {
        state.withLock { state in
            state.seen.insert(vcpu)
            guard state.seen.count == count, !state.fired else { return false }
            state.fired = true
            return true
        }
    }

    var seen: Int { state.withLock { $0.seen.count } }
    var all: Bool { seen == count }
}

extension TeardownVerdict {
    /// One passing CHECK per vCPU (the stress guest's verdict on its own pages).
    mutating func stressChecks(_ run: MeasuredRun, vcpus: Int) {
        let passing = Set(run.report.checks.filter(\.passed).map(\.id))
        if passing != Set((1...UInt64(vcpus)).map { $0 }) {
            failures.append("expected a passing check from each of \(vcpus) vCPUs, got \(run.report.checks.map { "\($0.id): \($0.passed ? "pass" : "fail")" })")
        }
    }

    /// Every teardown step in the safe order, none failed.
    mutating func teardownClean(_ run: MeasuredRun) {
        let order = run.report.teardown.map(\.step)
        if order != TeardownPlan.safe.steps { failures.append("teardown ran as \(order.map(\.rawValue).joined(separator: " → ")), not the safe order") }
        for record in run.report.teardown where record.error != nil {
            failures.append("step \(record.step.rawValue) failed: \(record.error!)")
        }
    }

    /// The zero check after reclaim covered every page reclaim discarded,
    /// and those are all of guest RAM but the pages shared when the guest
    /// stopped (the host's to keep).
    mutating func everyPageZero(_ run: MeasuredRun, memory: UInt64) {
        guard let check = run.report.zeroCheck, let reclaimed = run.report.reclaimed else {
            failures.append("no zero check ran after reclaim")
            return
        }
        if reclaimed.discardedPrivate + reclaimed.keptShared != memory / 4096 {
            failures.append("reclaim discarded \(reclaimed.discardedPrivate) and kept \(reclaimed.keptShared) pages of \(memory / 4096)")
        }
        if check.pages != reclaimed.discardedPrivate {
            failures.append("the zero check covered \(check.pages) of the \(reclaimed.discardedPrivate) pages reclaim discarded")
        }
    }
}
