import GuestImage
import KVM
import Lifecycle
import Platforms
import PVMHTestSupport
import Testing

#if arch(x86_64)
/// The same misbehaviour on real x86_64 KVM (guest_memfd platform), through
/// the port doorbell, which reaches the VMM on every host (vmcall does not
/// complete under some nested hypervisors; Docs/guests.md).
@Suite("misbehaving guests on x86_64 KVM", .enabled(if: KVMGate.enabled, "needs read/write /dev/kvm (PVMH_REQUIRE_KVM=1 makes this a failure)"),
       .serialized)
struct MisbehavingX86GuestTests {
    func run(_ bytes: [UInt8], timeout: Double = 30, registerAccess: X86RegisterAccess? = nil) throws -> (RunReport, Journal, Double) {
        let platform = X86KVMPlatform(system: try KVMSystem(), transport: .doorbell, transportReason: "the test guests use the doorbell",
                                      registerAccess: registerAccess)
        let journal = try Journal()
        let lifecycle = ProtectedVMLifecycle(platform: platform, journal: journal,
                                             options: RunOptions(ram: GuestRAM(size: 4 << 20), timeoutSeconds: timeout, auditDescriptors: false),
                                             guestName: "misbehaving")
        let start = monotonicNanoseconds()
        let report = lifecycle.run(image: TestGuests.x86(bytes))
        #expect(platform.openResources.isEmpty, "the platform closed every fd and mapping")
        return (report, journal, Double(monotonicNanoseconds() - start) / 1e9)
    }

    /// On both register paths: the unknown call is answered in RAX at once,
    /// the others after the ledger decided.
    @Test("unknown hypercall, bad gpas, MMIO, double share, unshare of a private page, overflowing counts: the answers KVM gives",
          arguments: KVMGate.syncRegs ? X86RegisterAccess.allCases : [.ioctls])
    func badRequests(_ registerAccess: X86RegisterAccess) throws {
        let (report, journal, _) = try run(TestGuests.x86BadRequests, registerAccess: registerAccess)
        #expect(journal.events(named: "create.vm").first?["register_access"] == .string(registerAccess.rawValue))
        let einval = Int64(X86GuestProtocol.rejected), enosys = Int64(X86GuestProtocol.unknownHypercall)
        #expect(report.checks.map(\.value) == [enosys, einval, einval, einval, einval, einval, 0, einval, einval, einval, 0])
        #expect(report.checks.allSatisfy { $0.passed }, "\(report.checks)")
        let memory = journal.events.filter { $0.name == "share" || $0.name == "unshare" }.map {
            "\($0.name) \($0["gpa"]!.serialized) \($0["pages"]!.serialized) \($0["result"]!.serialized)"
        }
        #expect(memory == [
            "share 1081352 1 \"rejected\"",                    // 0x108008: unaligned
            "share 1081344 0 \"rejected\"",                    // no pages
            "share 1073741824 1 \"rejected\"",                 // past RAM
            "share 4276092928 1 \"rejected\"",                 // the local APIC page
            "unshare 1081344 1 \"rejected\"",                  // a private page
            "share 1081344 1 \"ok\"",
            "share 1081344 1 \"rejected\"",                    // double share
            "unshare 1081344 18446744073709551615 \"rejected\"",
            "unshare 0 18446744073709551615 \"rejected\"",     // 2^60 1 GiB pages: saturated
            "unshare 1081344 1 \"ok\"",
        ])
        #expect(report.rejectedRequests == 8)
        #expect(report.passed, "\(report.failures)")
        #expect(report.teardown.map(\.step) == TeardownPlan.safe.steps && report.teardown.allSatisfy { $0.error == nil })
        #expect(journal.events.last?.name == "summary")
    }

    @Test("a storm of 10^5 doorbell share/unshare calls finishes with a bounded journal")
    func storm() throws {
        // The run's own timeout is the bound (a hang guard, not a timing measurement).
        let (report, journal, _) = try run(TestGuests.x86Storm, timeout: 60)
        #expect(!report.timedOut, "the storm did not finish within the 60 s timeout")
        #expect(report.memoryRequests == 100_000)
        #expect(report.checks.map(\.value) == [0])
        #expect(journal.events(named: "share").count + journal.events(named: "unshare").count == ProtectedVMLifecycle.individuallyJournaledRequests)
        #expect(journal.events(named: "memory.aggregate").first?["requests"] == .int(99_000))
        #expect(report.phases.last?.1.private == 0 && report.phases.last?.1.shared == 0)
        #expect(report.passed, "\(report.failures)")
    }
}
#endif
