import GuestImage
import Lifecycle
import Ownership
import PKVMModel
import Platforms
import Testing
import Timeline

/// One lifecycle run with every sink attached: the journal, the trace, the
/// ownership map, and the raw event stream to compare them with.
struct RecordedRun {
    let report: RunReport
    let journal: Journal
    let ram: GuestRAM
    let traceText: String
    let trace: TraceFile
    let svg: String
    let map: MapFile
    let events: [LifecycleEvent]

    init(platform: Platform, image: ELFImage, ram: GuestRAM, timeout: Double = 10) throws {
        let journal = try Journal()
        let recorder = TraceRecorder(), timeline = OwnershipTimeline(), log = NoticeLog()
        let lifecycle = ProtectedVMLifecycle(platform: platform, journal: journal,
                                             options: RunOptions(ram: ram, timeoutSeconds: timeout, auditDescriptors: false),
                                             guestName: "timeline") { event in
            recorder.record(event)
            timeline.record(event)
            log.append(event)
        }
        report = lifecycle.run(image: image)
        self.journal = journal
        self.ram = ram
        traceText = TraceDocument.json([recorder])
        trace = try TraceFile(traceText)
        svg = OwnershipMap(timeline.picture).svg
        map = try MapFile(svg)
        events = log.all
    }

    var snapshots: [OwnershipSnapshot] {
        events.compactMap { if case .ownership(let snapshot) = $0 { snapshot } else { nil } }
    }

    var exits: [VCPUExitRecord] {
        events.compactMap { if case .vcpuExit(let record) = $0 { record } else { nil } }
    }

    /// The journal's share/unshare records, as `TraceFile.memoryRequests` spells them.
    var journalRequests: [String] {
        journal.events.filter { $0.name == "share" || $0.name == "unshare" }.map { event in
            guard case .uint(let gfn)? = event["gfn"], case .uint(let pages)? = event["pages"], case .string(let result)? = event["result"] else {
                return "unreadable \(event.jsonLine)"
            }
            return "\(event.name) gfn=0x\(String(gfn, radix: 16)) pages=\(pages) \(result)"
        }
    }

    /// What each column of the map must draw, from a ledger of the test's
    /// own that replays the journal: RAM made private, every accepted
    /// share/unshare, the end of the run, and each teardown step (reclaim and
    /// release change it).
    var journalColumns: [[String]] {
        var ledger = OwnershipLedger()
        var columns: [[String]] = []
        var ran = false
        func column() { columns.append(Self.pieces(ledger.ownedRanges, in: ram.gfns)) }
        for event in journal.events {
            switch event.name {
            case "memory.private":
                if case .uint(let gfn)? = event["gfn"], case .uint(let pages)? = event["pages"] {
                    try? ledger.addPrivateMemory(GFNRange(start: gfn, count: pages))
                }
                column()
            case "share", "unshare":
                guard event["result"] == .string("ok"), case .uint(let gfn)? = event["gfn"], case .uint(let pages)? = event["pages"] else { continue }
                let range = GFNRange(start: gfn, count: pages)
                if event.name == "share" { try? ledger.share(range) } else { try? ledger.unshare(range) }
                column()
            case let name where name.hasPrefix("teardown."):
                if !ran { column(); ran = true }
                if name == "teardown.reclaim" { ledger.reclaimAll() }
                if name == "teardown.release" { ledger.releaseAll() }
                column()
            default:
                break
            }
        }
        return columns
    }

    /// `MapFile.pieces` spelling of ledger runs over guest RAM, with the
    /// frames they leave out host-owned.
    static func pieces(_ ranges: [OwnedRange], in ram: GFNRange) -> [String] {
        var pieces: [(UInt64, UInt64, PageState)] = []
        var cursor = ram.start
        func add(_ start: UInt64, _ end: UInt64, _ state: PageState) {
            guard start < end else { return }
            if let last = pieces.last, last.2 == state, last.1 == start { pieces[pieces.count - 1].1 = end } else { pieces.append((start, end, state)) }
        }
        for owned in ranges {
            add(cursor, owned.range.start, .host)
            add(owned.range.start, owned.range.end, owned.state)
            cursor = owned.range.end
        }
        add(cursor, ram.end, .host)
        return pieces.map { "0x\(String($0.0, radix: 16))+\($0.1 - $0.0) \($0.2.rawValue)" }
    }

    /// Everything a run's trace and map must agree on with its journal and
    /// its ledger, whatever the run did.
    func checkAgainstJournal() {
        #expect(trace.problems.isEmpty, "\(trace.problems.prefix(5))")
        #expect(trace.memoryRequests() == journalRequests, "the trace's memory track lists the journal's requests")
        let journalSteps = journal.events.filter { $0.name.hasPrefix("teardown.") }
        let traceSteps = trace.teardownSteps()
        #expect(traceSteps.map(\.name) == journalSteps.map { String($0.name.dropFirst("teardown.".count)) }, "same teardown order")
        for (slice, record) in zip(traceSteps, journalSteps) {
            guard case .uint(let nanoseconds)? = record["duration_ns"] else { Issue.record("no duration_ns"); continue }
            // Microseconds with the nanoseconds as three decimals.
            #expect(((slice.dur ?? -1) * 1000).rounded() == Double(nanoseconds), "\(slice.name): \(slice.dur ?? -1) µs vs \(nanoseconds) ns")
        }
        let lifecycle = trace.track("lifecycle")
        #expect(lifecycle.first?.name == "start" && lifecycle.first?.ts == 0, "times count from the run's start")
        let counters = trace.counters()
        #expect(counters.first?.number("host") == Double(ram.gfns.count), "before creation every page is the host's")
        #expect(counters.last.map { [$0.number("private"), $0.number("shared"), $0.number("host")] } == [0, 0, Double(ram.gfns.count)],
                "after teardown every page is the host's again")

        #expect(map.rootName == "svg")
        #expect(map.columns.count == snapshots.count)
        #expect(map.columns.map(\.index) == Array(map.columns.indices))
        for (index, snapshot) in snapshots.enumerated() where index < map.columns.count {
            #expect(map.pieces(at: index) == Self.pieces(snapshot.ranges, in: ram.gfns), "column \(index) draws the ledger's snapshot")
        }
        let replayed = journalColumns
        #expect(replayed.count == map.columns.count, "a column per ledger change the journal lists, the end of the run and each teardown step")
        for (index, expected) in replayed.enumerated() where index < map.columns.count {
            #expect(map.pieces(at: index) == expected, "column \(index) draws what the journal's ledger holds there")
        }
        // Page counts per phase, as the report has them.
        let phase = Dictionary(report.phases.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        func pages(_ column: Int, _ state: String) -> UInt64 {
            map.blocks.filter { $0.first <= column && column <= $0.last && $0.state == state }.reduce(0) { $0 + $1.pages }
        }
        if let created = map.columns.firstIndex(where: { $0.point == "created" }), let counts = phase["created"] {
            #expect(pages(created, "private") == counts.private)
        }
        if let ran = map.columns.firstIndex(where: { $0.point == "ran" }), let counts = phase["ran"] {
            #expect(pages(ran, "private") == counts.private && pages(ran, "shared") == counts.shared)
        }
    }
}

@Suite("The trace and the ownership map of a run")
struct TimelineTests {
    static let modelRAM = GuestRAM(base: ARM64GuestProtocol.ramBase, size: 4 << 20)

    /// The demo's own story in both pictures: the one page it shares appears
    /// and disappears twice, reclaim hands every page back, release forgets them.
    static func checkDemo(_ run: RecordedRun, decidedBy: String) throws {
        #expect(run.report.passed, "\(run.report.failures)")
        run.checkAgainstJournal()
        #expect(run.map.columns.map(\.point) == ["created"] + Array(repeating: "request", count: 4) + ["ran"] + Array(repeating: "teardown", count: 5))
        let shared = run.map.blocks.filter { $0.state == "shared" }
        #expect(shared.count == 2 && shared.allSatisfy { $0.pages == 1 && $0.first == $0.last }, "\(shared)")
        #expect(shared.map(\.first) == [1, 3], "shared after the first and third request, private again after the second and fourth")
        let reclaim = try #require(run.map.columns.firstIndex { $0.index == 7 })
        #expect(run.map.pieces(at: reclaim) == ["0x\(String(run.ram.gfns.start, radix: 16))+\(run.ram.gfns.count) reclaimed"])
        #expect(run.map.pieces(at: 9) == ["0x\(String(run.ram.gfns.start, radix: 16))+\(run.ram.gfns.count) host"])
        #expect(run.map.texts.contains("teardown") && run.map.texts.contains { $0.hasPrefix("reclaim · ") })
        #expect(run.map.texts.contains("page owner") && run.map.texts.contains("shared: lent to the host"))

        let memory = run.trace.track("memory").filter { $0.name.hasPrefix("share") || $0.name.hasPrefix("unshare") }
        #expect(memory.allSatisfy { $0.string("decided_by") == decidedBy }, "\(memory.map { $0.string("decided_by") ?? "-" })")
        #expect(memory.contains { $0.name == "share rejected" && $0.string("reason") != nil })
        #expect(run.trace.counters().contains { $0.number("shared") == 1 })
        let vcpu = run.trace.track("vCPU 0")
        let exits = vcpu.filter { $0.name.hasPrefix("exit: ") }
        #expect(exits.count == run.exits.count, "every exit is an instant")
        #expect(exits.last?.name == "exit: stopped")
        #expect(vcpu.filter { $0.name == "guest" && $0.phase == "X" }.count >= run.exits.count - 1, "time in the guest before each exit")
    }

    @Test("the demo on the pKVM model: trace and map agree with the journal and the ledger")
    func modelDemo() throws {
        let demo = try #require(BuiltinGuest.named("arm64-demo"))
        let run = try RecordedRun(platform: PKVMModelPlatform(), image: try demo.image(), ram: Self.modelRAM)
        try Self.checkDemo(run, decidedBy: "hypervisor")
    }

    @Test("the demo on x86 KVM: trace and map agree with the journal and the ledger",
          .enabled(if: KVMGate.enabled, "needs read/write /dev/kvm (PVMH_REQUIRE_KVM=1 makes this a failure)"))
    func kvmDemo() throws {
        #if arch(x86_64)
        let demo = try #require(BuiltinGuest.named("x86_64-demo"))
        let platform = try PlatformSelection.make(.auto, probe: HostProbe.gather(probeTransport: false))
        let run = try RecordedRun(platform: platform, image: try demo.image(), ram: GuestRAM(size: 4 << 20))
        try Self.checkDemo(run, decidedBy: "vmm")
        #endif
    }

    static let image = try! ELFImage(bytes: makeX86ELF(code: spinForever))

    @Test("a run that fails midway still has a valid trace and map up to the failure",
          arguments: [FakePlatform.Failure.create, .load, .reclaim])
    func failureMidway(_ failure: FakePlatform.Failure) throws {
        let run = try RecordedRun(platform: FakePlatform(script: LifecycleOrchestrationTests.demoScript, failure: failure),
                                  image: Self.image, ram: LifecycleOrchestrationTests.ram)
        #expect(!run.report.passed)
        run.checkAgainstJournal()
        #expect(run.trace.teardownSteps().count == 5, "teardown runs, and is drawn, on every path")
        if failure == .reclaim {
            let reclaim = try #require(run.trace.teardownSteps().first { $0.name == "reclaim" })
            #expect(reclaim.args["ok"] as? Bool == false && reclaim.string("error") != nil)
            #expect(run.map.texts.contains { $0.contains("reclaim") && $0.contains("FAILED") })
        } else {
            #expect(run.trace.track("lifecycle").contains { $0.name == "error" })
            #expect(run.map.texts.contains { $0.contains("error: ") })
        }
        if failure == .create {
            #expect(run.map.columns.map(\.point) == ["ran"] + Array(repeating: "teardown", count: 5), "no memory was ever private")
            #expect(run.map.blocks.allSatisfy { $0.state == "host" })
        }
    }

    @Test("a guest the timeout stops: its vCPU is still in the guest when teardown starts, and the trace closes it")
    func timeout() throws {
        let run = try RecordedRun(platform: FakePlatform(script: []), image: Self.image, ram: LifecycleOrchestrationTests.ram, timeout: 0.2)
        #expect(run.report.timedOut)
        run.checkAgainstJournal()
        #expect(run.trace.track("vCPU 0").contains { $0.phase == "X" && $0.name == "guest" }, "from start to the stop request")
        #expect(run.map.texts.contains { $0.contains("did not stop within") })
    }

    @Test("a storm is bounded like the journal: 1000 requests drawn one by one, the rest counted")
    func storm() throws {
        var script: [GuestEvent] = []
        for _ in 0..<1500 {
            script.append(.memoryRequest(MemoryRequest(operation: .share, gpa: 0x108000, pages: 1, transport: "script")))
            script.append(.memoryRequest(MemoryRequest(operation: .unshare, gpa: 0x108000, pages: 1, transport: "script")))
        }
        script += [.report(.done(status: 0)), .stopped(.halted)]
        let run = try RecordedRun(platform: FakePlatform(script: script), image: Self.image, ram: LifecycleOrchestrationTests.ram)
        #expect(run.report.passed, "\(run.report.failures)")
        run.checkAgainstJournal()
        #expect(run.snapshots.count == 1 + ProtectedVMLifecycle.individuallyJournaledRequests + 1 + 5)
        #expect(run.trace.memoryRequests().count == ProtectedVMLifecycle.individuallyJournaledRequests)
        #expect(run.trace.track("memory").contains { $0.name == "request storm" })
        #expect(run.map.texts.contains { $0.hasPrefix("2000 share/unshare") }, "the map says how many it does not draw")
        #expect(run.svg.utf8.count < 2 << 20, "\(run.svg.utf8.count) bytes")
    }

    @Test("a 1 GiB guest is drawn from the same ranges as 4 MiB: same rectangles, the shared page as visible")
    func largeGuest() throws {
        let small = try RecordedRun(platform: FakePlatform(script: LifecycleOrchestrationTests.demoScript), image: Self.image,
                                    ram: GuestRAM(size: 4 << 20))
        let large = try RecordedRun(platform: FakePlatform(script: LifecycleOrchestrationTests.demoScript), image: Self.image,
                                    ram: GuestRAM(size: 1 << 30))
        large.checkAgainstJournal()
        #expect(large.map.blocks.count == small.map.blocks.count)
        #expect(large.svg.utf8.count < small.svg.utf8.count + 512)
        let shared = try #require(large.map.blocks.first { $0.state == "shared" })
        #expect(shared.pages == 1 && shared.height >= 13.9, "a 1-page range is \(shared.height) px tall in 1 GiB")
    }

    @Test("past the listed exits, a vCPU's time is one slice that says how many exits it holds")
    func exitCap() throws {
        let count = TraceRecorder.listedExitsPerVCPU + 50
        let script = Array(repeating: GuestEvent.console([0x2E]), count: count) + [.report(.done(status: 0)), .stopped(.halted)]
        let run = try RecordedRun(platform: FakePlatform(script: script), image: Self.image, ram: LifecycleOrchestrationTests.ram)
        #expect(run.trace.problems.isEmpty, "\(run.trace.problems.prefix(3))")
        let vcpu = run.trace.track("vCPU 0")
        #expect(vcpu.filter { $0.name.hasPrefix("exit: ") }.count == TraceRecorder.listedExitsPerVCPU + 1, "the listed ones and the stop")
        let merged = try #require(vcpu.first { $0.name.contains("exits not drawn one by one") })
        #expect(merged.number("exits") == 51)
    }

    @Test("times are microseconds with the nanoseconds as decimals", arguments: [(0, "0.000"), (999, "0.999"), (1000, "1.000"), (1_234_567, "1234.567")])
    func microseconds(_ nanoseconds: UInt64, _ text: String) {
        #expect(TraceEvent("x", .instant, tid: 1, time: nanoseconds).json.contains("\"ts\":\(text),"))
    }
}
