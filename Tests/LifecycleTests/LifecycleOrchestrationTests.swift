import GuestImage
import Lifecycle
import Ownership
import Testing

/// The lifecycle's control flow with a scripted platform: no /dev/kvm needed.
@Suite("Lifecycle orchestration (scripted platform)")
struct LifecycleOrchestrationTests {
    static let image = try! ELFImage(bytes: makeX86ELF(code: spinForever))
    static let ram = GuestRAM(size: 4 << 20)

    static let demoScript: [GuestEvent] = [
        .console(Array("hello\n".utf8)),
        .memoryRequest(MemoryRequest(operation: .share, gpa: 0x108000, pages: 1, transport: "script")),
        .report(.message(gpa: 0x108000, length: 12)),
        .memoryRequest(MemoryRequest(operation: .unshare, gpa: 0x108000, pages: 1, transport: "script")),
        .memoryRequest(MemoryRequest(operation: .unshare, gpa: 0x108000, pages: 1, transport: "script")),
        .report(.check(id: 1, passed: true, value: -22)),
        .report(.done(status: 0)),
        .stopped(.halted),
    ]

    func run(_ platform: FakePlatform, timeout: Double = 5, seed: UInt64 = 1) throws -> (RunReport, Journal) {
        let journal = try Journal()
        let lifecycle = ProtectedVMLifecycle(platform: platform, journal: journal,
                                             options: RunOptions(ram: Self.ram, timeoutSeconds: timeout, auditDescriptors: false,
                                                                 verificationSeed: seed),
                                             guestName: "scripted")
        return (lifecycle.run(image: Self.image), journal)
    }

    @Test func cleanRunJournalsEveryStepInOrder() throws {
        let platform = FakePlatform(script: Self.demoScript)
        let (report, journal) = try run(platform)
        #expect(report.passed, "\(report.failures)")
        #expect(report.messages == ["fake message"])
        #expect(report.consoleLines == ["hello"])
        #expect(report.memoryRequests == 3)
        #expect(report.rejectedRequests == 1)
        #expect(platform.calls == ["create", "makeAllPrivate", "load", "createVCPUs", "reflect.share", "reflect.unshare",
                                   "reclaim", "unbind", "release", "destroy"])
        #expect(platform.replies == [.resume, .memoryResult(.success(())), .resume, .memoryResult(.success(())),
                                     .memoryResult(.failure(.ledger(.notShared(gfn: 0x108, state: .private)))),
                                     .resume, .resume])
        let names = journal.events.map(\.name)
        #expect(names.last == "summary")
        #expect(names.filter { $0.hasPrefix("teardown.") } == TeardownPlan.safe.steps.map { "teardown.\($0.rawValue)" })
        let privateEvent = try #require(journal.events(named: "memory.private").first)
        #expect(privateEvent["pages"] == .uint(1024))
        #expect(privateEvent["ranges"] == .int(1), "all of RAM is private in one step, as one range")
        #expect(report.phases.map(\.0) == ["created", "ran", "reclaimed", "released"])
        #expect(report.phases.first?.1.private == 1024)
        #expect(report.phases.last?.1 == PageCounts())
        let verify = journal.events(named: "verify.private")
        #expect(verify.contains { $0["gfn"] == .uint(0x108) }, "the page the guest shared and took back is probed")
        let zeroed = try #require(journal.events(named: "verify.zeroed").first)
        #expect(zeroed["checked"] == .uint(1024), "every discarded page is checked, not a sample")
        #expect(zeroed["pages"] == .uint(1024))
        #expect(zeroed["bytes_read"] == .uint(1024 * 4096), "the default check reads every page back")
        #expect(report.verifiedZeroPages == 1024)
    }

    @Test func isolationProbeCoversUsedPagesPlusASeededSampleOfTheOthers() throws {
        func probed(seed: UInt64) throws -> [UInt64] {
            let (report, journal) = try run(FakePlatform(script: Self.demoScript), seed: seed)
            #expect(report.passed, "\(report.failures)")
            return journal.events(named: "verify.private").compactMap { event -> UInt64? in
                if case .uint(let gfn) = event["gfn"] { return gfn }
                return nil
            }
        }
        let first = try probed(seed: 7)
        #expect(first.first == 0x108, "the page the guest shared comes first")
        #expect(first.count == 1 + 64 || first.count == 2 + 64, "every used page plus 64 sampled")
        #expect(Set(first).count == first.count, "no page probed twice")
        #expect(first.allSatisfy { Self.ram.gfns.contains($0) })
        #expect(try probed(seed: 7) == first, "the same seed probes the same pages")
        #expect(try probed(seed: 8) != first, "another seed probes others")
    }

    @Test func pagesLeftNonZeroAfterReclaimFailTheRunEachNamedByGFN() throws {
        let platform = FakePlatform(script: Self.demoScript, failure: .dirtyAfterReclaim)
        let (report, journal) = try run(platform)
        #expect(!report.passed)
        let dirty = FakePlatform.dirtyPages
        let listed = report.violations.compactMap { violation -> UInt64? in
            if case .notZeroAfterReclaim(let gfn, let offset, let byte) = violation, offset == 100, byte == 0x5A { return gfn }
            return nil
        }
        #expect(listed == Array(dirty.prefix(ZeroCheck.listed)), "the first pages are named one by one, in order")
        #expect(report.violations.contains(.morePagesNotZero(listed: UInt64(ZeroCheck.listed), total: UInt64(dirty.count))))
        #expect(report.violations.filter(\.isIsolationBreach).count == ZeroCheck.listed + 1)
        let zeroed = try #require(journal.events(named: "verify.zeroed").first)
        #expect(zeroed["checked"] == .uint(1024))
        #expect(zeroed["pages"] == .uint(1024 - UInt64(dirty.count)))
        #expect(report.verifiedZeroPages == 1024 - dirty.count)
    }

    @Test func guestThatNeverStopsIsStoppedAtTheTimeoutAndTornDown() throws {
        let platform = FakePlatform(script: [])
        let (report, _) = try run(platform, timeout: 0.2)
        #expect(report.timedOut)
        #expect(!report.passed)
        #expect(report.exitCode == 1)
        #expect(report.stopReasons[0] == .stopRequested)
        #expect(platform.calls.suffix(5) == ["requestStop", "reclaim", "unbind", "release", "destroy"])
        #expect(report.failures.contains("the guest did not stop before the timeout"))
    }

    @Test("teardown runs after a failure in any boot step", arguments: [FakePlatform.Failure.create, .load])
    func teardownAfterBootFailure(_ failure: FakePlatform.Failure) throws {
        let platform = FakePlatform(script: [], failure: failure)
        let (report, journal) = try run(platform)
        #expect(report.error != nil)
        #expect(report.exitCode == 1)
        #expect(journal.events.filter { $0.name.hasPrefix("teardown.") }.count == 5)
        #expect(journal.events.last?.name == "summary")
    }

    @Test func failingTeardownStepIsReportedAndLaterStepsStillRun() throws {
        let platform = FakePlatform(script: [.report(.done(status: 0)), .stopped(.halted)], failure: .reclaim)
        let (report, _) = try run(platform)
        #expect(!report.passed)
        #expect(report.failures.contains { $0.contains("teardown step reclaim failed") && $0.contains("EIO") })
        #expect(platform.calls.suffix(3) == ["unbind", "release", "destroy"])
    }

    @Test func guestAskingTheHostToReadPrivateMemoryIsRefusedAndReported() throws {
        let platform = FakePlatform(script: [.report(.message(gpa: 0x2000, length: 8)), .report(.done(status: 0)), .stopped(.halted)])
        let (report, _) = try run(platform)
        #expect(report.messages.isEmpty)
        #expect(report.violations == [.messageRefused(.notShared(gfn: 0x2, state: .private))])
        #expect(report.violations.contains { $0.description.contains("gfn 0x2") && $0.description.contains("private") })
        #expect(!report.passed)
    }

    @Test("a hypervisor-decided share the ledger refuses is a disagreement; one it agrees with is not")
    func noticesAreCheckedAgainstTheLedger() throws {
        let shared = MemoryRequest(operation: .share, gpa: 0x3000, pages: 1, transport: "notice")
        let twice = FakePlatform(script: [
            .memoryNotice(shared, hypervisor: .accepted),   // the ledger agrees
            .memoryNotice(shared, hypervisor: .accepted),   // a second share of a shared page: the ledger refuses
            .memoryNotice(MemoryRequest(operation: .unshare, gpa: 0x3000, pages: 1, transport: "notice"), hypervisor: .refused("not shared")),
            .report(.done(status: 0)), .stopped(.halted),
        ])
        let (report, journal) = try run(twice)
        let disagreements = report.violations.compactMap { violation -> Finding? in
            if case .finding(let finding) = violation, case .ledgerDisagreesWithHypervisor = finding { return finding }
            return nil
        }
        #expect(disagreements.count == 2, "\(report.violations)")
        #expect(disagreements.first.map { if case .ledgerDisagreesWithHypervisor(.share, 0x3000, nil, .some) = $0 { true } else { false } } == true)
        #expect(disagreements.last.map { if case .ledgerDisagreesWithHypervisor(.unshare, 0x3000, "not shared", nil) = $0 { true } else { false } } == true)
        #expect(journal.events(named: "violation").count == 2)
        #expect(!report.passed)
    }

    @Test func failedGuestCheckAndNonZeroStatusFailTheRun() throws {
        let platform = FakePlatform(script: [.report(.check(id: 4, passed: false, value: 0)), .report(.done(status: 1)), .stopped(.halted)])
        let (report, _) = try run(platform)
        #expect(report.failures.contains("guest check 4 failed (got 0)"))
        #expect(report.failures.contains("the guest reported status 1"))
    }

    @Test("a CORRUPT report fails the run (exit 1) with a sentence naming the gfn, journaled as guest.corrupt")
    func corruptedPageIsAGuestFailure() throws {
        let platform = FakePlatform(script: [.report(.corrupted(gpa: 0x123_010, expected: 0xAB, found: 0xCD)),
                                             .report(.done(status: 1)), .stopped(.halted)])
        let (report, journal) = try run(platform)
        #expect(!report.passed)
        #expect(report.exitCode == 1)
        #expect(report.failures.contains("the guest found gfn 0x123 corrupted: the word at gpa 0x123010 reads 0xcd, not the 0xab it wrote"))
        let corrupt = try #require(journal.events(named: "guest.corrupt").first)
        #expect(corrupt["gfn"] == .uint(0x123) && corrupt["expected"] == .uint(0xAB) && corrupt["found"] == .uint(0xCD))
    }

    @Test("pKVM: a page EL2 took back after its vCPU's last claim is named as in flight, at most one per vCPU stopped mid-run")
    func ledgerLagIsBoundedByTheVCPUsStoppedMidRun() throws {
        func notice(_ gfn: UInt64) -> GuestEvent {
            .memoryNotice(MemoryRequest(operation: .share, gpa: gfn * 4096, pages: 1, transport: "claim"), hypervisor: .accepted)
        }
        // One vCPU, stopped mid-run (the run times out), one page taken back: named, not judged.
        let one = FakePlatform(script: [notice(0x200), notice(0x201)])
        one.flavour = .protectedVM
        one.takenBackByHypervisor = [0x200]
        let (report, journal) = try run(one, timeout: 0.3)
        #expect(report.ledgerLagPages == [0x200])
        #expect(!report.violations.contains { if case .platformDisagrees = $0 { true } else { false } }, "\(report.violations)")
        #expect(journal.events(named: "verify.in-flight").first?["pages"] == .int(1))
        #expect(report.agreement?.pages == 2 && report.agreement?.disagreeing == 0, "0x201 (shared, readable) and the entry page (private, faults) agree: \(String(describing: report.agreement))")
        // Two pages taken back by one vCPU's calls: one more than the bound, so one is a violation.
        let two = FakePlatform(script: [notice(0x200), notice(0x201)])
        two.flavour = .protectedVM
        two.takenBackByHypervisor = [0x200, 0x201]
        let (over, _) = try run(two, timeout: 0.3)
        #expect(over.ledgerLagPages.count == 1)
        #expect(over.violations.contains { if case .platformDisagrees = $0 { true } else { false } })
        // A plain VM hears of nothing after the fact: no allowance at all.
        let plain = FakePlatform(script: [.memoryRequest(MemoryRequest(operation: .share, gpa: 0x200 * 4096, pages: 1, transport: "script"))])
        plain.takenBackByHypervisor = [0x200]
        let (strict, _) = try run(plain, timeout: 0.3)
        #expect(strict.ledgerLagPages.isEmpty)
    }

    @Test("pKVM: a relinquished page the guest touched again is found private before reclaim, then zero-checked; elsewhere it is a disagreement")
    func relinquishedPageTouchedAgain() throws {
        let relinquish = GuestEvent.memoryNotice(MemoryRequest(operation: .relinquish, gpa: 0x300 * 4096, pages: 1, transport: "claim"),
                                                 hypervisor: .accepted)
        let script: [GuestEvent] = [relinquish, .report(.done(status: 0)), .stopped(.poweredOff)]
        let protected = FakePlatform(script: script)
        protected.flavour = .protectedVM
        protected.retouchedAfterRelinquish = [0x300]
        let (report, journal) = try run(protected)
        #expect(report.passed, "\(report.failures)")
        #expect(report.relinquishedPages == 1 && report.relinquishedZeroPages == 1)
        #expect(report.redonatedPages == [0x300])
        #expect(journal.events(named: "verify.redonated").first?["gfns"] == .string("0x300"))
        #expect(report.phases.first { $0.0 == "reclaimed" }?.1.reclaimed == report.phases.first { $0.0 == "created" }?.1.private)
        #expect(report.zeroCheck?.pages == report.phases.first { $0.0 == "created" }?.1.private, "the page taken back is zero-checked with the rest")
        // A platform that hears of every change has no such excuse.
        let plain = FakePlatform(script: [.memoryRequest(MemoryRequest(operation: .relinquish, gpa: 0x300 * 4096, pages: 1, transport: "script")),
                                          .report(.done(status: 0)), .stopped(.poweredOff)])
        plain.retouchedAfterRelinquish = [0x300]
        let (strict, _) = try run(plain)
        #expect(strict.redonatedPages.isEmpty)
        #expect(strict.violations.contains { if case .platformDisagrees(_, .host, false, _) = $0 { true } else { false } }, "\(strict.violations)")
    }

    @Test func vCPUFailureEndsTheRunWithItsReason() throws {
        let platform = FakePlatform(script: [.stopped(.failed(VCPUFailure(.internalError, "KVM_EXIT_INTERNAL_ERROR suberror 1")))])
        let (report, _) = try run(platform)
        #expect(report.failures.contains { $0.contains("KVM_EXIT_INTERNAL_ERROR") })
    }

    @Test func longConsoleLinesAreSplitNotAccumulatedForever() throws {
        let platform = FakePlatform(script: [.console([UInt8](repeating: 0x41, count: 10_000)), .report(.done(status: 0)), .stopped(.halted)])
        let (report, _) = try run(platform)
        #expect(report.consoleLines.count == 3)
        #expect(report.consoleLines.map(\.count) == [4096, 4096, 1808])
    }
}
