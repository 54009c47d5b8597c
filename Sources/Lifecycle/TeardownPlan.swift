/// One step of tearing a protected VM down. The journal names them
/// `teardown.<rawValue>`.
public enum TeardownStep: String, CaseIterable, Sendable {
    /// Stop every vCPU (immediate_exit + kick) and join its thread.
    case stopVCPUs = "stop-vcpus"
    /// Every guest page back to host ownership; private contents discarded.
    case reclaim
    /// Delete the memslots (guest_memfd unbind).
    case unbind
    /// Close guest_memfd and unmap guest memory.
    case release
    /// Close the vCPU and VM fds.
    case destroy

    /// Steps that must have run before this one for the order to be safe, and why.
    public var safetyRequirements: [(TeardownStep, String)] {
        switch self {
        case .stopVCPUs: []
        case .reclaim: [(.stopVCPUs, "a running vCPU could touch memory being reclaimed")]
        case .unbind: [(.reclaim, "unbinding first hands pages the hypervisor still owns back to the host allocator")]
        case .release: [(.unbind, "memory must not be released while a memslot still maps it"),
                        (.reclaim, "releasing unreclaimed memory frees pages the hypervisor still owns")]
        case .destroy: [(.release, "the VM outlives guest_memfd, which holds a reference on it")]
        }
    }
}

extension TeardownStep {
    /// What the step does on each kind of VM, in one place (Docs/architecture.md
    /// has the same table). pKVM protected VMs cannot delete memslots after
    /// their first run, so closing the VM is their reclaim; the other steps
    /// follow from that.
    public func meaning(on flavour: PlatformTraits.Flavour) -> String {
        switch (self, flavour) {
        case (.stopVCPUs, _):
            "every vCPU asked to stop (immediate_exit and a kick) and its thread joined"
        case (.reclaim, .plainVM):
            "private pages discarded by punching holes in guest memory; the host view is readable again"
        case (.reclaim, .protectedVM):
            "vCPU and VM fds closed: pKVM reclaims every page, zeroing the guest's, and keeps shared ones"
        case (.reclaim, .model):
            "the model's EL2 reclaims every page, zeroing the guest's, in the kernel order under test"
        case (.unbind, .protectedVM):
            "nothing left to unbind: the memslots went with the VM (they cannot be deleted after the first run)"
        case (.unbind, .model):
            "the model's guest_memfd unbound (the host allocator may reuse its pages now)"
        case (.unbind, .plainVM):
            "memslots deleted (guest memory unbound)"
        case (.release, _):
            "guest memory closed and unmapped"
        case (.destroy, .protectedVM):
            "/dev/kvm closed (the vCPUs and the VM went at reclaim)"
        case (.destroy, _):
            "vCPUs and the VM destroyed"
        }
    }
}

/// Teardown as data: an ordered list of steps. The default is the safe order;
/// other orders exist only for the regression suite, and the executor names
/// the hazard of each out-of-order step in the journal.
public struct TeardownPlan: Equatable, Sendable, CustomStringConvertible {
    public var steps: [TeardownStep]

    /// stop vCPUs → reclaim → unbind → release → destroy.
    public static let safe = TeardownPlan(unchecked: [.stopVCPUs, .reclaim, .unbind, .release, .destroy])

    public init(steps: [TeardownStep]) throws(LifecycleError) {
        guard Set(steps).count == TeardownStep.allCases.count, steps.count == TeardownStep.allCases.count else {
            throw .badInput("a teardown plan must list each of \(TeardownStep.allCases.map(\.rawValue).joined(separator: ", ")) exactly once")
        }
        self.steps = steps
    }

    private init(unchecked steps: [TeardownStep]) {
        self.steps = steps
    }

    /// The hazards this order creates: (step, requirement it breaks, why).
    public var hazards: [(step: TeardownStep, missing: TeardownStep, why: String)] {
        var done = Set<TeardownStep>()
        var found: [(TeardownStep, TeardownStep, String)] = []
        for step in steps {
            for (required, why) in step.safetyRequirements where !done.contains(required) {
                found.append((step, required, why))
            }
            done.insert(step)
        }
        return found
    }

    public var isSafe: Bool { hazards.isEmpty }

    public var description: String { steps.map(\.rawValue).joined(separator: " → ") }
}
