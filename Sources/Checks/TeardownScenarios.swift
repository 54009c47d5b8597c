import Lifecycle
import PKVMModel

/// Teardown orders: the safe plan and the orders a kernel must survive.
public enum TeardownScenarios {
    static func plan(_ steps: [TeardownStep]) -> TeardownPlan { try! TeardownPlan(steps: steps) }

    static var all: [Scenario] {
        [
            Scenario("teardown.safe-order", on: [.kvm, .model],
                     "the safe plan (stop → reclaim → unbind → release → destroy): journal order exact, private pages fault before reclaim and read zero after, kernel healthy, memory and fds back") { context in
                safeOrder(context)
            },
            order("teardown.unbind-before-reclaim", [.stopVCPUs, .unbind, .reclaim, .release, .destroy], on: [.kvm, .model],
                  "memslots deleted before the VMM reclaims: the kernel reclaims within the delete, so it must stay healthy"),
            order("teardown.close-gmem-before-memslot", [.stopVCPUs, .reclaim, .release, .unbind, .destroy], on: [.kvm],
                  "guest_memfd closed and unmapped while its memslot still exists; the memslot is deleted afterwards"),
            order("teardown.close-vm-first", [.stopVCPUs, .reclaim, .unbind, .destroy, .release], on: [.kvm],
                  "VM and vCPU fds closed while guest_memfd is still open and mapped (gmem holds the VM until released)"),
            order("teardown.munmap-first", [.stopVCPUs, .release, .reclaim, .unbind, .destroy], on: [.kvm],
                  "guest memory unmapped (and gmem closed) before reclaim and unbind"),
            Scenario("teardown.kernel-unbind-before-reclaim", on: [.model], expects: .faultCaught,
                     "the model's kernel unbinds guest_memfd before the hypervisor reclaims (the guest_memfd v13 bug): the host fault must be reported") { context in
                kernelUnbindBeforeReclaim(context)
            },
        ]
    }

    /// `plan` is the code's safe plan; tests pass a broken one to show the
    /// check fails when the order is broken.
    public static func safeOrder(_ context: CheckContext, plan: TeardownPlan = .safe) -> CheckOutcome {
        guard plan.isSafe else {
            return .fail("TeardownPlan.safe is not the safe order: \(plan.hazards.map { "\($0.step.rawValue) before \($0.missing.rawValue)" }.joined(separator: ", "))")
        }
        let run: MeasuredRun
        do { run = try LifecycleProbe.run(context, plan: plan) } catch { return .skip("\(error)") }
        var verdict = TeardownVerdict()
        let order = run.journal.events.map(\.name).filter { $0.hasPrefix("teardown.") }
        let expected = ["teardown.stop-vcpus", "teardown.reclaim", "teardown.unbind", "teardown.release", "teardown.destroy"]
        if order != expected { verdict.failures.append("teardown ran as \(order.joined(separator: " → ")), not the safe order") }
        for record in run.report.teardown where record.error != nil {
            verdict.failures.append("step \(record.step.rawValue) failed: \(record.error!)")
        }
        verdict.guestFinished(run)
        verdict.isolation(run)
        verdict.host(run, context)
        verdict.failures += run.report.violations.map(\.description).filter { !verdict.failures.contains($0) }
        return verdict.outcome
    }

    /// An out-of-order plan: step errors it causes are expected and noted; the
    /// verdict is about the kernel (healthy, memory back, no fd left).
    static func order(_ name: String, _ steps: [TeardownStep], on platforms: [CheckPlatform], _ summary: String) -> Scenario {
        Scenario(name, on: platforms, summary) { context in
            let run: MeasuredRun
            do { run = try LifecycleProbe.run(context, plan: plan(steps)) } catch { return .skip("\(error)") }
            var verdict = TeardownVerdict()
            verdict.guestFinished(run)
            for record in run.report.teardown {
                if let hazard = record.hazard { context.note("\(record.step.rawValue): \(hazard)") }
                if let error = record.error { context.note("\(record.step.rawValue) failed as this order implies: \(error)") }
            }
            verdict.host(run, context)
            // A model kernel fault would be a finding; none is expected with the correct kernel order.
            verdict.failures += run.report.violations.filter(\.isHostFault).map(\.description)
            return verdict.outcome
        }
    }

    public static func kernelUnbindBeforeReclaim(_ context: CheckContext) -> CheckOutcome {
        kernelUnbindBeforeReclaim(context, situation: "") { broken throws(LifecycleError) in _ = try LifecycleProbe.run(broken, plan: .safe) }
    }

    /// The model's kernel unbinds before the hypervisor reclaims; `lifecycle`
    /// runs a guest on the broken model (`situation` says what else, e.g.
    /// " under load"). The verdict is the model's finding.
    static func kernelUnbindBeforeReclaim(_ context: CheckContext, situation: String,
                                          lifecycle: (CheckContext) throws(LifecycleError) -> Void) -> CheckOutcome {
        let platform = PKVMModelPlatform(configuration: ModelConfiguration(kernelOrder: .unbindBeforeReclaim))
        let broken = context.derived { platform }
        // The verdict is the model's finding, not the run's health.
        do { try lifecycle(broken) } catch { return .skip("\(error)") }
        let faults = platform.findings.filter(\.isHostFault)
        guard let first = faults.first else {
            return .fail("the broken kernel order (unbind before reclaim) went undetected\(situation): no host fault was reported")
        }
        context.note("caught as expected: \(first)\(faults.count > 1 ? " (and \(faults.count - 1) more host faults)" : "")")
        return .pass
    }
}
