import GuestImage
import Lifecycle
import PKVMModel
import PVMHTestSupport
import Testing

/// Inputs the fuzzers (Fuzz/run) found, replayed as ordinary tests so the
/// fix stays fixed. Each names the target and the crash file it came from.
@Suite("fuzzer regressions")
struct FuzzRegressionTests {
    /// hypercall target, crash-1e9c51a2…: a MEM_SHARE with X2 = 1. EL2 refuses
    /// it before looking at the page (pkvm_memshare_call), but the model
    /// forwarded it to the VMM's ledger, which accepted it: "ledger and EL2
    /// disagree", and the ledger then called a private page shared. Fixed in
    /// PKVMModelPlatform: a malformed call is answered and journaled
    /// (`hypercall.refused`) without the ledger.
    @Test func malformedShareNeverReachesTheLedger() throws {
        // MEM_SHARE(0x40100000) with X2 = 1, then PSCI SYSTEM_OFF.
        let words: [UInt32] = [
            0xD2800060, 0xF2B8C000, 0xD2A80201, 0xD2800022, 0xD2800003, 0xD4000002,
            0xD2800100, 0xF2B08000, 0xD4000002, 0x14000000,
        ]
        let platform = PKVMModelPlatform()
        let journal = try Journal()
        let ram = GuestRAM(base: ARM64GuestProtocol.ramBase, size: 4 << 20)
        let lifecycle = ProtectedVMLifecycle(platform: platform, journal: journal,
                                             options: RunOptions(ram: ram, timeoutSeconds: 10, auditDescriptors: false),
                                             guestName: "fuzz-regression")
        let report = lifecycle.run(image: TestGuests.arm64(words))
        #expect(platform.findings.isEmpty, "\(platform.findings)")
        #expect(report.memoryRequests == 0, "the ledger never heard of the malformed call")
        #expect(journal.events(named: "hypercall.refused").map { $0["ipa"] } == [.uint(0x4010_0000)])
        #expect(report.phases.first { $0.0 == "ran" }?.1.shared == 0, "the page stayed private")
        #expect(report.stopReasons[0] == .poweredOff)
    }
}
