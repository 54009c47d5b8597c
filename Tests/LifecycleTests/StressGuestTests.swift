import GuestImage
import Lifecycle
import Ownership
import PKVMModel
import Platforms
import PVMHTestSupport
import Testing

/// The stress guests (Guests/stress/core.h) on several vCPUs: on the pKVM
/// model (arm64, PSCI CPU_ON) and on this host's KVM (x86_64: every vCPU
/// started through its registers). Each vCPU fills its pages with secrets,
/// shares and unshares runs of them, and verifies them all at the end.
@Suite("the stress guests on several vCPUs", .serialized)
struct StressGuestTests {
    static func image(_ name: String, vcpus: Int, memory: UInt64, rounds: UInt64, seed: UInt64, ramBase: UInt64) throws -> ELFImage {
        let guest = try #require(BuiltinGuest.named(name))
        let parameters = StressParameters(seed: seed, rounds: rounds, ramBase: ramBase, ramSize: memory, vcpus: vcpus)
        return try #require(try guest.image().applying(parameters), "\(name) has no parameter block")
    }

    func run(_ platform: Platform, guest: String, vcpus: Int, memory: UInt64 = 16 << 20, rounds: UInt64 = 32,
             seed: UInt64 = 7, timeout: Double = 60) throws -> (RunReport, Journal) {
        let ram = platform.guestABI.ram(size: memory)
        let image = try Self.image(guest, vcpus: vcpus, memory: memory, rounds: rounds, seed: seed, ramBase: ram.base)
        let journal = try Journal()
        let lifecycle = ProtectedVMLifecycle(platform: platform, journal: journal,
                                             options: RunOptions(ram: ram, vcpus: vcpus, timeoutSeconds: timeout,
                                                                 auditDescriptors: false, verificationSeed: seed),
                                             guestName: guest)
        return (lifecycle.run(image: image), journal)
    }

    /// What every passing stress run shows: one passing CHECK per vCPU whose
    /// value is the rounds it made, DONE 0, the guest's own count of pages,
    /// and every discarded page verified zero.
    func expectCleanStress(_ report: RunReport, _ journal: Journal, vcpus: Int, rounds: UInt64, memory: UInt64) {
        #expect(report.passed, "\(report.failures)")
        let checks = journal.events(named: "check")
        #expect(checks.count == vcpus, "one CHECK per vCPU: \(checks)")
        #expect(Set(checks.compactMap { $0["id"]?.serialized }) == Set((1...vcpus).map { String($0) }))
        #expect(checks.allSatisfy { $0["passed"] == .bool(true) && $0["value"] == .int(Int64(rounds)) })
        #expect(journal.events(named: "guest.done").first?["status"] == .uint(0))
        #expect(report.consoleLines.last?.hasSuffix("all checks passed") == true, "\(report.consoleLines)")
        let zeroed = journal.events(named: "verify.zeroed").first
        #expect(zeroed?["checked"] == .uint(memory / 4096), "the zero check covers every page")
        #expect(zeroed?["pages"] == .uint(memory / 4096))
        // The ledger agrees with the platform's own record of host access on every page.
        #expect(report.agreement?.pages == memory / 4096, "\(String(describing: report.agreement))")
        #expect(report.agreement?.disagreeing == 0)
        let requests = journal.events(named: "share").count + journal.events(named: "unshare").count
        #expect(report.memoryRequests >= UInt64(requests))
        #expect(report.rejectedRequests == 0)
    }

    @Test("arm64-stress on the model: 4 vCPUs started by PSCI CPU_ON, every page verified")
    func model() throws {
        let (report, journal) = try run(PKVMModelPlatform(), guest: "arm64-stress", vcpus: 4)
        expectCleanStress(report, journal, vcpus: 4, rounds: 32, memory: 16 << 20)
        // pKVM shares one granule per call, so each page of a run is a request.
        #expect(report.memoryRequests >= 4 * 32 * 2)
        #expect(Set(journal.events(named: "share").compactMap { $0["vcpu"]?.serialized }).count == 4, "every vCPU shared pages")
    }

    @Test("the seed decides everything: two runs with one seed make the same requests")
    func deterministic() throws {
        func requests(_ seed: UInt64) throws -> [String] {
            let (report, journal) = try run(PKVMModelPlatform(), guest: "arm64-stress", vcpus: 1, memory: 4 << 20, rounds: 16, seed: seed)
            #expect(report.passed, "\(report.failures)")
            return journal.events.filter { $0.name == "share" || $0.name == "unshare" }.map { "\($0.name) \($0["gfn"]!.serialized)" }
        }
        let first = try requests(11)
        #expect(first.count == 2 * journal(first))
        #expect(try requests(11) == first)
        #expect(try requests(12) != first)
    }

    private func journal(_ requests: [String]) -> Int { requests.filter { $0.hasPrefix("share") }.count }

    #if arch(x86_64)
    @Test("x86_64-stress on KVM: 4 vCPUs started through their registers, every page verified",
          .enabled(if: KVMGate.enabled, "needs read/write /dev/kvm (PVMH_REQUIRE_KVM=1 makes this a failure)"))
    func kvm() throws {
        let platform = try PlatformSelection.make(.auto, probe: HostProbe.gather(probeTransport: false))
        let (report, journal) = try run(platform, guest: "x86_64-stress", vcpus: 4, memory: 8 << 20, rounds: 16)
        expectCleanStress(report, journal, vcpus: 4, rounds: 16, memory: 8 << 20)
        #expect(journal.events(named: "vcpu.stop").count == 4)
        #expect(journal.events(named: "vcpu.stop").allSatisfy { $0["reason"] == .string("halted") })
        #expect(Set(journal.events(named: "share").compactMap { $0["vcpu"]?.serialized }).count == 4, "every vCPU shared pages")
    }
    #endif

    @Test("a guest's CORRUPT report fails the run and names the gfn")
    func corruptionIsAGuestFailure() throws {
        let report = HarnessReport.corrupted(gpa: 0x4012_3018, expected: 0xAB, found: 0)
        #expect(ARM64GuestDevices.report(code: 6, arguments: [0x4012_3018, 0xAB, 0]) == .event(.report(report)))
        #expect(X86KVMPlatform.report(code: 6, rbx: 0x4012_3018, rcx: 0xAB, rdx: 0) == report)
        let violation = Violation.guestSawCorruption(gpa: 0x4012_3018, expected: 0xAB, found: 0, pageSize: 4096)
        #expect(violation.description == "the guest found gfn 0x40123 corrupted: the word at gpa 0x40123018 reads 0x0, not the 0xab it wrote")
    }

    @Test("the agreement merges ledger runs with observed runs and names each disagreeing run")
    func agreementMerge() throws {
        var ledger = OwnershipLedger()
        try ledger.addPrivateMemory(GFNRange(start: 0x100, count: 16))
        try ledger.share(GFNRange(start: 0x104, count: 4))
        let honest = HostAccessObservation(source: "test", runs: [
            HostAccessRun(GFNRange(start: 0x100, count: 4), hostMayAccess: false),
            HostAccessRun(GFNRange(start: 0x104, count: 4), hostMayAccess: true),
            HostAccessRun(GFNRange(start: 0x108, count: 8), hostMayAccess: false),
        ])
        let agreed = HostAccessAgreement(honest, ledger: ledger)
        #expect(agreed.pages == 16 && agreed.disagreeing == 0 && agreed.violations.isEmpty)
        // One observed run spanning private and shared pages, open to the host.
        let leaky = HostAccessObservation(source: "test", runs: [
            HostAccessRun(GFNRange(start: 0x100, count: 6), hostMayAccess: true),
            HostAccessRun(GFNRange(start: 0x106, count: 10), hostMayAccess: false),
        ])
        let found = HostAccessAgreement(leaky, ledger: ledger)
        #expect(found.pages == 16)
        #expect(found.disagreeing == 6)     // 0x100-0x103 open but private; 0x106-0x107 closed but shared
        #expect(found.violations == [
            .platformDisagrees(GFNRange(start: 0x100, count: 4), ledger: .private, hostMayAccess: true, source: "test"),
            .platformDisagrees(GFNRange(start: 0x106, count: 2), ledger: .shared, hostMayAccess: false, source: "test"),
        ])
        #expect(found.summary == "the ledger and test agree on 10 of 16 pages")
    }
}
