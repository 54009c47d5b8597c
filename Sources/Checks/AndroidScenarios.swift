import GuestImage
import Lifecycle
import Ownership
import PKVMModel

/// Android pKVM's guest calls upstream lacks (Docs/kvm-abi.md, "Android's
/// protected-VM ABI"): MEM_RELINQUISH and the MMIO guard, through the demo
/// guest's checks 10–22, which it makes only where the hypervisor's
/// features bitmap offers them. On the model, whose EL2 is Android's for
/// these checks; on a KVM platform, wherever the real hypervisor offers
/// them (upstream pKVM does not: those runs skip, saying so).
enum AndroidScenarios {
    static var all: [Scenario] {
        [
            Scenario("android.relinquish", on: [.kvm, .model],
                     "MEM_RELINQUISH gives a private page to the host: the ledger and the hypervisor agree, the host reads it back zero, a second call changes nothing, a shared page is refused") { context in
                relinquish(context)
            },
            Scenario("android.mmio-guard", on: [.kvm, .model],
                     "MMIO guard: MAP is refused before ENROLL, for RAM and unaligned IPAs; after ENROLL a load from an unguarded MMIO page is an abort in the guest that never reaches the VMM") { context in
                mmioGuard(context)
            },
        ]
    }

    static let relinquishChecks: [UInt64] = [10, 11, 12]
    static let mmioGuardChecks: [UInt64] = Array(13...22)

    /// The demo on Android's pKVM: the model as Android, or the KVM platform
    /// if its hypervisor offers `calls`; otherwise the reason to skip.
    enum DemoRun {
        case ran(MeasuredRun)
        case skipped(CheckOutcome)
    }

    /// The demo makes `checks` only where the features bitmap offers the
    /// calls, so on a KVM platform a run without any of them is the
    /// hypervisor saying it has none (a skip); the model is Android's by
    /// construction, so there a missing check is a failure (`runFailures`).
    static func androidDemo(_ context: CheckContext, checks: [UInt64], calls: String) -> DemoRun {
        let target: CheckContext
        if context.platform == .model {
            target = context.derived { () throws(LifecycleError) -> Platform in
                PKVMModelPlatform(configuration: ModelConfiguration(flavour: .android))
            }
        } else {
            guard LifecycleProbe.guest(for: context.guestABI).architecture == .aarch64 else {
                return .skipped(.skip("these are arm64 pKVM hypercalls; this KVM platform runs x86_64 guests"))
            }
            target = context
        }
        let run: MeasuredRun
        do { run = try LifecycleProbe.run(target, plan: .safe, memory: 4 << 20) } catch { return .skipped(.skip("\(error)")) }
        for note in target.takeNotes() { context.note(note) }
        if context.platform != .model, !run.report.checks.contains(where: { checks.contains($0.id) }) {
            let first = checks.first ?? 0, last = checks.last ?? 0
            return .skipped(.skip("this platform's KVM_FUNC_FEATURES does not offer \(calls): the demo made none of its checks \(first)–\(last), which it makes only where it does (upstream pKVM offers 0x\(String(PKVMFlavour.upstream.features, radix: 16)); Docs/kvm-abi.md)"))
        }
        return .ran(run)
    }

    /// What every Android check expects of the run as a whole, plus the
    /// guest checks `ids` present and passed.
    static func runFailures(_ run: MeasuredRun, checks ids: [UInt64]) -> [String] {
        var failures: [String] = []
        for id in ids {
            guard let check = run.report.checks.first(where: { $0.id == id }) else {
                failures.append("the guest made no check \(id)")
                continue
            }
            if !check.passed { failures.append("guest check \(id) got \(check.value), not what Android's pKVM answers") }
        }
        if run.report.guestStatus != 0 { failures.append("the guest reported status \(run.report.guestStatus.map(String.init) ?? "none")") }
        failures += run.report.failures
        return failures
    }

    static func relinquish(_ context: CheckContext) -> CheckOutcome {
        let run: MeasuredRun
        switch androidDemo(context, checks: relinquishChecks, calls: "MEM_RELINQUISH") {
        case .ran(let measured): run = measured
        case .skipped(let outcome): return outcome
        }
        var failures = runFailures(run, checks: relinquishChecks)
        // The model's EL2 tells the ledger of its refusal too; real pKVM
        // tells only of what worked, through the guest's claim.
        let expected = context.isProtectedKVM ? ["ok"] : ["ok", "rejected"]
        let answers = run.journal.events(named: "relinquish").map { $0["result"].map { if case .string(let s) = $0 { s } else { "?" } } ?? "?" }
        if answers != expected { failures.append("the ledger heard relinquish answers \(answers), expected \(expected)") }
        if run.report.relinquishedPages != 1 || run.report.relinquishedZeroPages != 1 {
            failures.append("\(run.report.relinquishedZeroPages) of \(run.report.relinquishedPages) relinquished pages read back zero; expected 1 of 1")
        }
        if let ran = run.report.phases.first(where: { $0.0 == "ran" })?.1 {
            if ran.host != 1 || ran.shared != 0 {
                failures.append("when the guest stopped the ledger held \(ran.host) host and \(ran.shared) shared pages; expected 1 and 0")
            }
        } else {
            failures.append("the run recorded no ledger counts for when the guest stopped")
        }
        if let agreement = run.report.agreement, agreement.disagreeing > 0 {
            failures.append("before reclaim \(agreement.summary)")
        }
        return failures.isEmpty ? .pass : .fail(failures.joined(separator: "; "))
    }

    static func mmioGuard(_ context: CheckContext) -> CheckOutcome {
        let run: MeasuredRun
        switch androidDemo(context, checks: mmioGuardChecks, calls: "the MMIO guard") {
        case .ran(let measured): run = measured
        case .skipped(let outcome): return outcome
        }
        var failures = runFailures(run, checks: mmioGuardChecks)
        if context.platform == .model {
            // The model's EL2 journals what real pKVM decides unseen.
            let decisions = run.journal.events(named: "model.mmio-guard").map { event in
                [event["call"], event["result"]].map { $0.map { if case .string(let s) = $0 { s } else { "?" } } ?? "?" }.joined(separator: " ")
            }
            let expected = ["map refused", "enroll ok", "map ok", "map ok", "map refused", "map refused", "access refused", "map ok", "unmap ok"]
            if decisions != expected { failures.append("EL2 decided \(decisions), expected \(expected)") }
        }
        return failures.isEmpty ? .pass : .fail(failures.joined(separator: "; "))
    }
}
