import Glibc
import GuestImage
import KVM
import Lifecycle
import Ownership
import Platforms
import Testing

/// The protected-VM lifecycle on this machine's real /dev/kvm.
@Suite("Lifecycle on real KVM", .enabled(if: KVMGate.enabled, "needs read/write /dev/kvm (PVMH_REQUIRE_KVM=1 makes this a failure)"), .serialized)
struct KVMLifecycleTests {
    /// The platform `pvmh run` picks here; with `registerAccess`, the same
    /// x86 platform told how to reach the registers.
    func platform(transport: HypercallTransport? = nil, registerAccess: X86RegisterAccess? = nil) throws -> Platform {
        let probe = HostProbe.gather(probeTransport: false)
        let selected = try PlatformSelection.make(.auto, probe: probe, transport: transport)
        guard let registerAccess, let x86 = selected as? X86KVMPlatform else { return selected }
        return X86KVMPlatform(system: try KVMSystem(path: KVMGate.path), backend: x86.backend, transport: x86.transport,
                              transportReason: x86.transportReason, registerAccess: registerAccess)
    }

    func runGuest(_ image: ELFImage, name: String, timeout: Double = 10, memory: UInt64 = 4 << 20,
                  registerAccess: X86RegisterAccess? = nil,
                  observer: @escaping @Sendable (LifecycleEvent) -> Void = { _ in }) throws -> (RunReport, Journal) {
        let journal = try Journal()
        let lifecycle = ProtectedVMLifecycle(platform: try platform(registerAccess: registerAccess), journal: journal,
                                             options: RunOptions(ram: GuestRAM(size: memory), timeoutSeconds: timeout, auditDescriptors: false),
                                             guestName: name, observer: observer)
        return (lifecycle.run(image: image), journal)
    }

    /// The demo guest's exact protocol, as the journal records it, the same
    /// whether the doorbell and report port reach the registers through
    /// kvm_run's synced area or the register ioctls (the default, synced
    /// registers where offered, is what every other test here runs). The
    /// synced path joins the arguments where the host has KVM_CAP_SYNC_REGS.
    @Test(arguments: KVMGate.syncRegs ? X86RegisterAccess.allCases : [.ioctls])
    func demoGuestProducesTheExactSequenceOfRequestsAndReports(_ registerAccess: X86RegisterAccess) throws {
        let demo = try #require(BuiltinGuest.named("x86_64-demo"))
        let (report, journal) = try runGuest(try demo.image(), name: demo.name, registerAccess: registerAccess)
        #expect(report.passed, "\(report.failures)")
        #expect(report.exitCode == 0)
        #expect(journal.events(named: "create.vm").first?["register_access"] == .string(registerAccess.rawValue))

        let interesting: Set<String> = ["share", "unshare", "check", "message", "guest.done", "vcpu.stop", "console"]
        let sequence = journal.events.filter { interesting.contains($0.name) }.map { event -> String in
            switch event.name {
            case "share", "unshare":
                "\(event.name) gfn=\(event["gfn"]!.serialized) \(event["result"]!.serialized)"
            case "check":
                "check \(event["id"]!.serialized) \(event["passed"]!.serialized) \(event["value"]!.serialized)"
            case "message", "console":
                "\(event.name) \(event["text"]!.serialized)"
            case "guest.done":
                "done \(event["status"]!.serialized)"
            default:
                "stop \(event["reason"]!.serialized)"
            }
        }
        let transport = (try platform() as? X86KVMPlatform)?.transport.rawValue ?? "?"
        let page = 0x108
        #expect(sequence == [
            #"console "pvmh x86_64 demo guest: booted in long mode""#,
            #"console "transport: \#(transport)""#,
            #"share gfn=\#(page) "ok""#, "check 1 true 0",
            #"message "hello from the protected guest via a shared page""#,
            #"unshare gfn=\#(page) "ok""#, "check 2 true 0",
            #"share gfn=\#(page) "rejected""#, "check 3 true -22",
            #"unshare gfn=\#(page) "rejected""#, "check 4 true -22",
            #"share gfn=1024 "rejected""#, "check 5 true -22",
            #"share gfn=\#(page) "ok""#, #"share gfn=\#(page) "rejected""#, "check 6 true -22",
            #"unshare gfn=\#(page) "ok""#, "check 7 true 0",
            #"console "demo guest: all checks passed""#, "done 0", #"stop "halted""#,
        ])

        // Teardown in the safe order, every step fine.
        #expect(journal.events.filter { $0.name.hasPrefix("teardown.") }.map(\.name) ==
                ["teardown.stop-vcpus", "teardown.reclaim", "teardown.unbind", "teardown.release", "teardown.destroy"])
        #expect(report.teardown.allSatisfy { $0.error == nil })
        // The ledger is empty (the exact fd audit runs in the pvmh process
        // itself: see PVMHTests, where this VM is the only one).
        let last = try #require(report.phases.last)
        #expect(last.0 == "released" && last.1.private == 0 && last.1.shared == 0)
        #expect(report.phases.first?.1.private == 1024)
        // The unshared message page faulted for the host before reclaim and read zero after it.
        #expect(journal.events(named: "verify.private").contains {
            $0["gfn"] == .uint(UInt64(page)) && ($0["host_access"]?.serialized.contains("SIGSEGV") ?? false)
        })
        #expect(report.verifiedZeroPages >= 2)
        #expect(journal.events.last?.name == "summary")
    }

    /// A host read of a private page in the VMM faults; shared pages are
    /// readable; reclaim discards private contents. Probed both in a forked
    /// child (a fault there cannot take the test runner down) and in-process
    /// under the guarded handler the lifecycle uses.
    @Test(arguments: [X86KVMPlatform.HostReadProbe.child, .guarded])
    func hostViewEnforcesTheLedger(_ probe: X86KVMPlatform.HostReadProbe) throws {
        let platform = try platform()
        (platform as? X86KVMPlatform)?.hostReadProbe = probe
        let journal = try Journal()
        let ram = GuestRAM(size: 2 << 20)
        let codePage = 0x100000 / 4096
        try platform.create(ram: ram, journal: journal)
        _ = try platform.makeAllPrivate(ram)
        try platform.load(try ELFImage(bytes: makeX86ELF(code: spinForever)))

        #expect(platform.probeHostRead(gpa: 0x100000) == .faulted(signal: SIGSEGV, code: 2), "SEGV_ACCERR on a private page")
        try platform.reflect(.share, GFNRange(start: UInt64(codePage), count: 1))
        #expect(platform.probeHostRead(gpa: 0x100000) == .readable(spinForever[0]), "a shared page is readable")
        #expect(try platform.readHostMemory(gpa: 0x100000, length: 2) == spinForever)
        try platform.reflect(.unshare, GFNRange(start: UInt64(codePage), count: 1))
        #expect(platform.probeHostRead(gpa: 0x100000) == .faulted(signal: SIGSEGV, code: 2), "unshared again: faults again")

        try platform.reclaim(Reclaim(formerlyPrivate: [ram.gfns], formerlyShared: []))
        #expect(platform.probeHostRead(gpa: 0x100000) == .readable(0), "reclaimed: host-owned and zero")
        #expect(try platform.readHostMemory(gpa: 0x100000, length: 4096).allSatisfy { $0 == 0 })
        try platform.unbind()
        try platform.release()
        try platform.destroy()
        #expect(platform.probeHostRead(gpa: 0x100000) == .unmapped)
        #expect(platform.openResources.isEmpty)
    }

    @Test func guestThatNeverStopsIsEndedByTheTimeoutAndTornDownCleanly() throws {
        let (report, journal) = try runGuest(try ELFImage(bytes: makeX86ELF(code: spinForever)), name: "spin", timeout: 0.3)
        #expect(report.timedOut)
        #expect(report.exitCode == 1)
        #expect(report.stopReasons[0] == .stopRequested)
        #expect(report.teardown.map(\.step) == TeardownPlan.safe.steps)
        #expect(report.teardown.allSatisfy { $0.error == nil })
        #expect(journal.events(named: "timeout").count == 1)
    }

    @Test func guestWritingOutsideRAMStopsWithAVerdict() throws {
        let (report, _) = try runGuest(try ELFImage(bytes: makeX86ELF(code: writeOutsideRAM)), name: "wild-write")
        #expect(report.exitCode == 1)
        #expect(report.failures.contains { $0.contains("gpa 0x40000000") && $0.contains("KVM_EXIT_MMIO") })
        #expect(report.teardown.allSatisfy { $0.error == nil })
        #expect(report.violations.isEmpty, "the platform closed every fd and mapping it held")
    }

    @Test func sigintDuringRunTearsDownOnceInTheSafeOrder() throws {
        let journal = try Journal()
        let log = NoticeLog()
        let lifecycle = ProtectedVMLifecycle(platform: try platform(), journal: journal,
                                             options: RunOptions(ram: GuestRAM(size: 4 << 20), timeoutSeconds: 20, handleSignals: true, auditDescriptors: false),
                                             guestName: "spin") { log.append($0) }
        // Send SIGINT to ourselves once the guest runs; the lifecycle's handler catches it.
        let sender = try VCPUThread(index: 99) {
            while !log.phases.contains("run") { usleep(1000) }
            usleep(50_000)
            kill(getpid(), SIGINT)
        }
        let report = lifecycle.run(image: try ELFImage(bytes: makeX86ELF(code: spinForever)))
        _ = sender.join(timeoutNanoseconds: 1_000_000_000)
        #expect(report.interruptedBy == SIGINT)
        #expect(report.exitCode == 1)
        #expect(journal.events.filter { $0.name.hasPrefix("teardown.") }.map(\.name) ==
                TeardownPlan.safe.steps.map { "teardown.\($0.rawValue)" })
        #expect(report.teardown.allSatisfy { $0.error == nil })
        #expect(report.violations.isEmpty, "the platform closed every fd and mapping it held")
        #expect(journal.events.last?.name == "summary")
    }

    @Test func transportProbeAgreesWithWhatTheDemoUses() throws {
        let system = try KVMSystem()
        let result = TransportProbe.probe(system: system)
        #expect(!result.reason.isEmpty)
        // Whatever the probe picked, the demo must pass with it.
        let journal = try Journal()
        let platform = X86KVMPlatform(system: system, transport: result.transport, transportReason: result.reason)
        let lifecycle = ProtectedVMLifecycle(platform: platform, journal: journal,
                                             options: RunOptions(ram: GuestRAM(size: 4 << 20), auditDescriptors: false), guestName: "x86_64-demo")
        let report = lifecycle.run(image: try BuiltinGuest.named("x86_64-demo")!.image())
        #expect(report.passed, "\(report.failures)")
        #expect(journal.events(named: "share").allSatisfy { $0["transport"] == .string(result.transport.rawValue) })
    }

    /// guest_memfd joins the arguments where the host has it.
    @Test("a host read of a private page is an error naming it, never a SIGSEGV of the VMM",
          arguments: KVMGate.guestMemfd ? RAMBackend.allCases : [.memfd])
    func privateReadIsAnError(_ backend: RAMBackend) throws {
        let system = try KVMSystem()
        let platform = X86KVMPlatform(system: system, backend: backend, transport: .doorbell, transportReason: "test")
        let ram = GuestRAM(size: 2 << 20)
        try platform.create(ram: ram, journal: try Journal())
        _ = try platform.makeAllPrivate(ram)
        let error = #expect(throws: LifecycleError.self) { try platform.readHostMemory(gpa: 0x1000, length: 16) }
        #expect(error?.description.contains("gpa 0x1000 is not readable") == true, "\(String(describing: error))")
        try platform.reflect(.share, GFNRange(start: 1, count: 1))
        #expect(try platform.readHostMemory(gpa: 0x1000, length: 16) == [UInt8](repeating: 0, count: 16))
        // A read that starts in a shared page and runs into a private one is refused too.
        #expect(throws: LifecycleError.self) { try platform.readHostMemory(gpa: 0x1FF8, length: 16) }
        try platform.reclaim(Reclaim())
        try platform.unbind()
        try platform.release()
        try platform.destroy()
        #expect(platform.openResources.isEmpty)
    }
}
