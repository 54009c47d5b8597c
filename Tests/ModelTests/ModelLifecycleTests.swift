import GuestImage
import Ownership
import Lifecycle
import PKVMModel
import PVMHTestSupport
import Testing

/// Guests written for these tests, assembled once with the toolchain's clang
/// (`clang --target=aarch64-none-elf`) and kept as words.
enum TestGuests {
    /// MEM_SHARE 0x40100000, write 'X' there, MESSAGE(ipa, 1), MEM_UNSHARE,
    /// DONE(share result + unshare result), SYSTEM_OFF.
    static let shareWriteUnshare: [UInt32] = [
        0xD2B8C000, 0xF2800060, 0xD2A80201, 0xD2800002, 0xD2800003, 0xD4000002, 0xAA0003F3, 0xD2A80201,
        0x52800B04, 0x39000024, 0xD2A14005, 0xF287C005, 0xF90004A1, 0xD2800026, 0xF90008A6, 0xF90000A6,
        0xD2B8C000, 0xF2800080, 0xD4000002, 0x8B000273, 0xF90004B3, 0xD2800066, 0xF90000A6, 0xD2B08000,
        0xF2800100, 0xD4000002, 0xD503207F, 0x17FFFFFF,
    ]
    /// `b .`
    static let spin: [UInt32] = [0x14000000]
    /// An unallocated encoding.
    static let unsupported: [UInt32] = [0x0000_0000]

    static func image(_ words: [UInt32]) -> ELFImage {
        try! ELFImage(bytes: makeELF(machine: .aarch64, code: a64(words), address: ARM64GuestProtocol.imageBase))
    }
}

@Suite("Lifecycle on the pKVM model")
struct ModelLifecycleTests {
    static let ram = GuestRAM(base: ARM64GuestProtocol.ramBase, size: 4 << 20)

    func run(_ words: [UInt32], order: KernelTeardownOrder = .correct, timeout: Double = 10) throws -> (RunReport, Journal, PKVMModelPlatform) {
        let platform = PKVMModelPlatform(configuration: ModelConfiguration(kernelOrder: order))
        let journal = try Journal()
        let lifecycle = ProtectedVMLifecycle(platform: platform, journal: journal,
                                             options: RunOptions(ram: Self.ram, timeoutSeconds: timeout, auditDescriptors: false),
                                             guestName: "test")
        return (lifecycle.run(image: TestGuests.image(words)), journal, platform)
    }

    @Test func shareWriteUnshareWithTheCorrectKernelOrderIsClean() throws {
        let (report, journal, platform) = try run(TestGuests.shareWriteUnshare)
        #expect(report.passed, "\(report.failures)")
        #expect(platform.findings.isEmpty)
        #expect(report.messages == ["X"])
        #expect(report.stopReasons[0] == .poweredOff)
        #expect(journal.events(named: "share").map { $0["result"] } == [.string("ok")])
        #expect(journal.events(named: "unshare").map { $0["gfn"] } == [.uint(0x40100)])
        #expect(journal.events(named: "memory.private").first?["pages"] == .uint(1024))
        #expect(journal.events(named: "verify.private").contains {
            $0["gfn"] == .uint(0x40100) && ($0["host_access"]?.serialized.contains("SIGSEGV") ?? false)
        })
        #expect(report.verifiedZeroPages >= 2, "the unshared page and the code page read zero after reclaim")
        #expect(report.teardown.map(\.step) == TeardownPlan.safe.steps)
        #expect(report.phases.last?.1.private == 0)
    }

    @Test func unbindBeforeReclaimIsCaughtAsAHostFaultOnAGuestOwnedPage() throws {
        let (report, journal, platform) = try run(TestGuests.shareWriteUnshare, order: .unbindBeforeReclaim)
        #expect(!report.passed)
        #expect(report.exitCode == 1)
        let first = try #require(platform.findings.first)
        #expect(first.isHostFault)
        guard case .allocatorReusedGuestPage(gfn: 0x40000, _, guestState: "OWNED") = first else {
            Issue.record("the first finding is \(first)"); return
        }
        #expect(first.description.contains("host fault"))
        #expect(first.description.contains("host allocator reused gfn 0x40000, a page the hypervisor still held for the guest"))
        #expect(first.description.contains("guest OWNED"))
        #expect(journal.events(named: "model.fault").first?["gfn"] == .uint(0x40000))
        #expect(report.violations.contains(.finding(first)))
        #expect(report.violations.contains { $0.isHostFault })
    }

    @Test func aGuestThatNeverStopsIsEndedByTheTimeout() throws {
        let (report, _, platform) = try run(TestGuests.spin, timeout: 0.3)
        #expect(report.timedOut)
        #expect(report.stopReasons[0] == .stopRequested)
        #expect(report.teardown.allSatisfy { $0.error == nil })
        #expect(platform.openResources.isEmpty)
    }

    @Test func anUnsupportedEncodingStopsTheVCPUNamingItAndThePC() throws {
        let (report, _, _) = try run(TestGuests.unsupported)
        let reason = try #require(report.stopReasons[0])
        #expect(reason.description.contains("0x00000000"))
        #expect(reason.description.contains("0x40080000"))
        #expect(!report.passed)
    }

    @Test func theHostReadingAPrivatePageIsAFaultNamingThePageAndOwner() throws {
        let platform = PKVMModelPlatform()
        let journal = try Journal()
        try platform.create(ram: Self.ram, journal: journal)
        _ = try platform.makeAllPrivate(Self.ram)
        #expect(throws: LifecycleError.self) { try platform.readHostMemory(gpa: 0x4000_0000, length: 8) }
        #expect(platform.findings.first?.description.contains("gfn 0x40000, which the guest owns (host NOPAGE, guest OWNED)") == true)
        #expect(platform.findings.first == .hostTouchedGuestPage(gfn: 0x40000, hostState: "NOPAGE", guestState: "OWNED", by: "the VMM (readHostMemory)")
                || platform.findings.first?.isHostFault == true)
        #expect(platform.probeHostRead(gpa: 0x4000_0000) == .faulted(signal: 11, code: 2))
    }
}

/// The arm64 demo over the harness doorbell (the transport of arm64 KVM
/// without the SMCCC filter), end to end on the model: the guest reads
/// TRANSPORT at boot and sends every vendor call through CALL.
@Suite("the arm64 demo over the MMIO doorbell, on the model")
struct ModelDoorbellTests {
    func run(_ transport: ARM64GuestProtocol.Transport) throws -> (RunReport, Journal) {
        let demo = try #require(BuiltinGuest.named("arm64-demo"))
        let platform = PKVMModelPlatform(configuration: ModelConfiguration(guestTransport: transport))
        let journal = try Journal()
        let lifecycle = ProtectedVMLifecycle(platform: platform, journal: journal,
                                             options: RunOptions(ram: ModelLifecycleTests.ram, timeoutSeconds: 20, auditDescriptors: false),
                                             guestName: demo.name)
        return (lifecycle.run(image: try demo.image()), journal)
    }

    @Test("every check passes, each request came through the doorbell, and the console matches the hvc run")
    func sameRunAsHVC() throws {
        let (doorbell, doorbellJournal) = try run(.mmioDoorbell)
        #expect(doorbell.passed, "\(doorbell.failures)")
        #expect(doorbell.checks.count == 9 && doorbell.checks.allSatisfy(\.passed), "\(doorbell.checks)")
        let transports = (doorbellJournal.events(named: "share") + doorbellJournal.events(named: "unshare")).map { $0["transport"] }
        #expect(!transports.isEmpty && transports.allSatisfy { $0 == .string("mmio doorbell") }, "\(transports)")
        let (hvc, hvcJournal) = try run(.hvc)
        #expect(hvc.passed)
        #expect(doorbell.consoleLines == hvc.consoleLines)
        #expect(doorbell.messages == hvc.messages)
        #expect(hvcJournal.events(named: "share").allSatisfy { $0["transport"] == .string("hvc") })
    }
}

/// The arm64 demo on the model as Android's pKVM: the guest sees the
/// features bitmap 0x3fd and takes its relinquish and MMIO guard steps.
@Suite("the arm64 demo on the model as Android's pKVM")
struct ModelAndroidDemoTests {
    @Test("22 checks pass; the relinquished page is the host's and read back zero; EL2's guard decisions are journaled")
    func androidDemo() throws {
        let demo = try #require(BuiltinGuest.named("arm64-demo"))
        let platform = PKVMModelPlatform(configuration: ModelConfiguration(flavour: .android))
        let journal = try Journal()
        let lifecycle = ProtectedVMLifecycle(platform: platform, journal: journal,
                                             options: RunOptions(ram: ModelLifecycleTests.ram, timeoutSeconds: 20, auditDescriptors: false),
                                             guestName: demo.name)
        let report = lifecycle.run(image: try demo.image())
        #expect(report.passed, "\(report.failures)")
        #expect(report.checks.map(\.id) == Array(1...22) && report.checks.allSatisfy(\.passed), "\(report.checks)")
        #expect(report.consoleLines.contains("pKVM features: 0x3fd"))
        #expect(journal.events(named: "relinquish").map { $0["result"] } == [.string("ok"), .string("rejected")])
        #expect(journal.events(named: "verify.relinquished").map { $0["zero"] } == [.uint(1)])
        #expect(report.relinquishedPages == 1 && report.relinquishedZeroPages == 1)
        #expect(report.phases.first { $0.0 == "ran" }?.1 == PageCounts(host: 1, private: 1023))
        let guardCalls = journal.events(named: "model.mmio-guard").map { "\($0["call"]?.serialized ?? "?") \($0["result"]?.serialized ?? "?")" }
        #expect(guardCalls == ["\"map\" \"refused\"", "\"enroll\" \"ok\"", "\"map\" \"ok\"", "\"map\" \"ok\"", "\"map\" \"refused\"",
                               "\"map\" \"refused\"", "\"access\" \"refused\"", "\"map\" \"ok\"", "\"unmap\" \"ok\""], "\(guardCalls)")
        #expect(journal.events(named: "model.relinquish-unmapped").count == 1)
        #expect(platform.findings.isEmpty)
    }
}
