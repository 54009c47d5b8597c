import A64
import GuestImage
import Lifecycle
import PKVMModel
import PVMHTestSupport
import Testing

/// Guests that misbehave on the pKVM model: each gets the answer pKVM gives,
/// the ledger and EL2 stay in agreement, the journal records it, and the run
/// ends with a verdict instead of hanging or crashing.
@Suite("misbehaving guests on the pKVM model")
struct MisbehavingModelGuestTests {
    static let ram = GuestRAM(base: ARM64GuestProtocol.ramBase, size: 4 << 20)
    static let invalid = Int64(SMCCCReturn.invalidParameter)

    struct Run {
        var report: RunReport
        var journal: Journal
        var platform: PKVMModelPlatform
        var seconds: Double

        func events(_ name: String) -> [JournalEvent] { journal.events(named: name) }
        /// The share/unshare events as "share 0x40100 rejected".
        var memoryEvents: [String] {
            journal.events.filter { $0.name == "share" || $0.name == "unshare" }.map { event in
                "\(event.name) \(event["gfn"]!.serialized) \(event["result"]!.serialized)"
            }
        }
    }

    func run(_ image: ELFImage, timeout: Double = 20, vcpus: Int = 1) throws -> Run {
        let platform = PKVMModelPlatform()
        let journal = try Journal()
        let lifecycle = ProtectedVMLifecycle(platform: platform, journal: journal,
                                             options: RunOptions(ram: Self.ram, vcpus: vcpus, timeoutSeconds: timeout, auditDescriptors: false),
                                             guestName: "misbehaving")
        let start = monotonicNanoseconds()
        let report = lifecycle.run(image: image)
        return Run(report: report, journal: journal, platform: platform, seconds: Double(monotonicNanoseconds() - start) / 1e9)
    }

    /// Teardown ran once, in the safe order, without errors; the ledger is
    /// empty; the model holds nothing; the journal ends with the summary.
    func expectOrderlyEnd(_ run: Run, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(run.report.teardown.map(\.step) == TeardownPlan.safe.steps, sourceLocation: sourceLocation)
        #expect(run.report.teardown.allSatisfy { $0.error == nil }, sourceLocation: sourceLocation)
        #expect(run.journal.events.filter { $0.name.hasPrefix("teardown.") }.count == 5, sourceLocation: sourceLocation)
        #expect(run.report.phases.last?.1.private == 0 && run.report.phases.last?.1.shared == 0, sourceLocation: sourceLocation)
        #expect(run.platform.openResources.isEmpty, sourceLocation: sourceLocation)
        #expect(run.journal.events.last?.name == "summary", sourceLocation: sourceLocation)
        #expect(run.journal.events.contains { $0.name == "verdict" }, sourceLocation: sourceLocation)
    }

    @Test("an unknown hypercall id answers SMCCC NOT_SUPPORTED and is journaled")
    func unknownHypercall() throws {
        let run = try run(TestGuests.arm64(TestGuests.unknownHypercalls))
        #expect(run.report.checks.map(\.value) == [-1, -1, -1])
        #expect(run.report.checks.allSatisfy { $0.passed })
        #expect(run.events("hypercall.not-supported").map { $0["function"] } ==
                [.uint(0xC600_0099), .uint(0x8200_0042), .uint(0x1234_0000_0000_00FF)])
        #expect(run.report.memoryRequests == 0)
        #expect(run.report.passed, "\(run.report.failures)")
        expectOrderlyEnd(run)
    }

    @Test("a storm of unknown hypercalls is answered every time and journaled a bounded number of times")
    func unknownHypercallStorm() throws {
        let run = try run(TestGuests.arm64(TestGuests.unknownHypercallStorm))
        #expect(run.platform.hypercalls.count == 151)
        #expect(run.events("hypercall.not-supported").count == PKVMModelPlatform.journaledBadHypercalls)
        #expect(run.events("hypercall.storm").count == 1)
        #expect(run.report.stopReasons[0] == .poweredOff)
        #expect(run.report.failures == ["the guest never reported that it was done"])
        expectOrderlyEnd(run)
    }

    @Test("bad IPAs, MMIO, double share, unshare of a private page, malformed arguments: -3 each, ledger and EL2 agree")
    func badRequests() throws {
        let run = try run(TestGuests.arm64(TestGuests.badRequests))
        let invalid = Self.invalid
        #expect(run.report.checks.map(\.value) == [invalid, invalid, invalid, invalid, invalid, 0, invalid, invalid, 0, invalid])
        #expect(run.report.checks.allSatisfy { $0.passed }, "\(run.report.checks)")
        // What the VMM's ledger heard, and decided exactly as EL2 did. The
        // malformed unshare (X2 = 1) never reaches it: pKVM refuses it first.
        #expect(run.memoryEvents == [
            "share 262400 \"rejected\"",        // 0x40100008: unaligned
            "share 524288 \"rejected\"",        // 0x80000000: past RAM
            "share 36864 \"rejected\"",         // 0x09000000: the UART
            "share 40963 \"rejected\"",         // 0x0A003E00: the harness window
            "unshare 262400 \"rejected\"",      // a private page
            "share 262400 \"ok\"",
            "share 262400 \"rejected\"",        // double share
            "unshare 262400 \"ok\"",
            "unshare 0 \"rejected\"",           // below RAM
        ])
        let reasons = run.events("share").compactMap { $0["reason"]?.serialized }
        #expect(reasons[0].contains("not page aligned"))
        #expect(reasons[2].contains("gfn 0x9000 is outside guest memory"))
        #expect(reasons.last?.contains("is shared, not private") == true)
        #expect(run.events("hypercall.refused").map { $0["reason"] } == [.string("X2/X3 must be zero")])
        #expect(run.platform.findings.isEmpty, "ledger and EL2 disagree: \(run.platform.findings)")
        #expect(run.report.memoryRequests == 9 && run.report.rejectedRequests == 7)
        #expect(run.report.passed, "\(run.report.failures)")
        expectOrderlyEnd(run)
    }

    @Test("a storm of 10^5 share/unshare calls finishes in seconds with a bounded journal and a consistent ledger")
    func storm() throws {
        // The run's own --timeout is the bound (a hang guard, not a timing
        // measurement): a storm that does not finish in 20 s times out.
        let run = try run(TestGuests.arm64(TestGuests.storm), timeout: 20)
        #expect(!run.report.timedOut, "the storm did not finish within the 20 s timeout")
        #expect(run.report.memoryRequests == 100_000)
        #expect(run.report.rejectedRequests == 0)
        #expect(run.report.checks.map(\.value) == [0], "every call answered 0")
        let limit = ProtectedVMLifecycle.individuallyJournaledRequests
        #expect(run.events("share").count + run.events("unshare").count == limit)
        #expect(run.events("memory.storm").count == 1)
        let aggregate = try #require(run.events("memory.aggregate").first)
        #expect(aggregate["requests"] == .int(Int64(100_000 - limit)))
        #expect(aggregate["share_ok"] == .int(49_500) && aggregate["unshare_ok"] == .int(49_500))
        #expect(aggregate["share_rejected"] == .int(0) && aggregate["unshare_rejected"] == .int(0))
        #expect(run.journal.events.count < limit + 100, "the journal stays bounded: \(run.journal.events.count) events")
        #expect(run.platform.hypercalls.count == PKVMModelPlatform.recordedHypercalls, "the model's call record is bounded")
        #expect(run.platform.findings.isEmpty)
        #expect(run.report.phases.first { $0.0 == "ran" }?.1.shared == 0, "the last unshare left the page private")
        #expect(run.report.passed, "\(run.report.failures)")
        expectOrderlyEnd(run)
    }

    @Test("a vector table that faults again is stopped as an exception loop, long before the timeout")
    func exceptionLoop() throws {
        // Detected, not timed out: the reason below names the loop, and the
        // 10 s timeout is only a hang guard.
        let run = try run(TestGuests.arm64(TestGuests.exceptionLoop), timeout: 10)
        #expect(!run.report.timedOut, "the loop must be detected, not timed out")
        guard case .failed(let why) = try #require(run.report.stopReasons[0]) else {
            Issue.record("vCPU 0 must fail: \(run.report.stopReasons)")
            return
        }
        #expect(why.kind == .exceptionLoop)
        #expect(why.description.contains("exception loop"))
        #expect(why.description.contains("VBAR_EL1 0x40100000"))
        #expect(why.description.contains("taken at 0x40100200"), "the synchronous vector for EL1h: \(why)")
        let event = try #require(run.events("model.exception-loop").first)
        #expect(event["vbar"] == .uint(0x4010_0000) && event["elr"] == .uint(0x4010_0200) && event["ec"] == .uint(0))
        #expect(run.report.exitCode == 1)
        expectOrderlyEnd(run)
    }

    @Test("a guest that never stops is ended by the timeout")
    func neverStops() throws {
        let run = try run(TestGuests.arm64(TestGuests.spin), timeout: 0.3)
        #expect(run.report.timedOut)
        #expect(run.report.stopReasons[0] == .stopRequested)
        #expect(run.events("timeout").count == 1)
        #expect(run.report.failures == ["the guest did not stop before the timeout"])
        expectOrderlyEnd(run)
    }

    @Test("a guest that writes outside RAM stops with the address", arguments: [
        (TestGuests.writeBelowRAM, "gpa 0x1000"), (TestGuests.writePastRAM, "gpa 0x40400000"),
    ])
    func writesOutsideRAM(_ words: [UInt32], _ address: String) throws {
        let run = try run(TestGuests.arm64(words))
        guard case .failed(let why) = try #require(run.report.stopReasons[0]) else {
            Issue.record("vCPU 0 must fail: \(run.report.stopReasons)")
            return
        }
        #expect(why.description.contains(address) && why.description.contains("wrote 8 bytes"), "\(why)")
        #expect(run.journal.events(named: "vcpu.stop").first?["reason"]?.serialized.contains(address) == true)
        #expect(run.report.exitCode == 1)
        expectOrderlyEnd(run)
    }

    @Test("secondary vCPUs wait powered off: the demo passes with 4 and all stop at SYSTEM_OFF")
    func secondaryVCPUs() throws {
        let demo = try #require(BuiltinGuest.named("arm64-demo"))
        let run = try run(try demo.image(), vcpus: 4)
        #expect(run.report.passed, "\(run.report.failures)")
        #expect(run.report.stopReasons == [0: .poweredOff, 1: .poweredOff, 2: .poweredOff, 3: .poweredOff])
        #expect(run.events("vcpu.start").count == 4)
        expectOrderlyEnd(run)
    }

    @Test("more vCPUs than the model runs is bad input, refused before any runs")
    func tooManyVCPUs() throws {
        let run = try run(TestGuests.arm64(TestGuests.spin), vcpus: PKVMModelPlatform.maximumVCPUs + 1)
        #expect(run.report.exitCode == 2)
        #expect(run.report.error?.description == "the pKVM model runs 1 to 8 vCPUs, not 9; use --vcpus 1 to 8")
        #expect(run.events("vcpu.start").isEmpty)
        expectOrderlyEnd(run)
    }
}
