import Lifecycle
import Testing

@Suite("Teardown plans")
struct TeardownPlanTests {
    @Test func safePlanIsTheDesignOrderAndHasNoHazards() {
        #expect(TeardownPlan.safe.steps == [.stopVCPUs, .reclaim, .unbind, .release, .destroy])
        #expect(TeardownPlan.safe.isSafe)
        #expect(TeardownPlan.safe.description == "stop-vcpus → reclaim → unbind → release → destroy")
    }

    @Test("out-of-order plans name their hazard", arguments: [
        ([TeardownStep.stopVCPUs, .unbind, .reclaim, .release, .destroy], TeardownStep.unbind, TeardownStep.reclaim),
        ([.reclaim, .stopVCPUs, .unbind, .release, .destroy], .reclaim, .stopVCPUs),
        ([.stopVCPUs, .reclaim, .release, .unbind, .destroy], .release, .unbind),
        ([.stopVCPUs, .reclaim, .unbind, .destroy, .release], .destroy, .release),
    ])
    func hazards(steps: [TeardownStep], step: TeardownStep, missing: TeardownStep) throws {
        let plan = try TeardownPlan(steps: steps)
        #expect(!plan.isSafe)
        #expect(plan.hazards.contains { $0.step == step && $0.missing == missing })
    }

    @Test func planMustListEveryStepOnce() {
        #expect(throws: LifecycleError.self) { try TeardownPlan(steps: [.stopVCPUs, .reclaim]) }
        #expect(throws: LifecycleError.self) {
            try TeardownPlan(steps: [.stopVCPUs, .reclaim, .reclaim, .unbind, .release, .destroy])
        }
    }
}
