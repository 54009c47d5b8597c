import Glibc
@testable import PVMHCommand
import PVMHTestSupport
import Testing

/// Ctrl-C, SIGTERM and --timeout against the real binary: each ends in the
/// safe teardown, exactly once, with the journal closed properly.
@Suite("pvmh stops a running guest cleanly", .enabled(if: KVMGate.enabled, "needs read/write /dev/kvm"), .serialized)
struct SignalTests {
    let executable: String
    let directory: TemporaryDirectory
    let spinningGuest: String

    init() throws {
        executable = try #require(Subprocess.pvmhExecutable(), "the pvmh binary is not next to the test bundle")
        directory = try TemporaryDirectory()
        // 32-bit `jmp .`: a guest that never stops.
        spinningGuest = try directory.write("spin.elf", makeELF(machine: .x86_64, code: [0xEB, 0xFE], address: 0x100000))
    }

    func journalEvents(_ path: String) throws -> [JSON] {
        let bytes = try #require(readFile(path), "no journal at \(path)")
        return try EndToEndTests.events(String(decoding: bytes, as: UTF8.self))
    }

    @Test("a signal during the run tears down in the safe order", arguments: [SIGINT, SIGTERM])
    func signalDuringRun(_ signal: Int32) throws {
        let journal = directory.file("signal-\(signal).jsonl")
        let result = try Subprocess.run(executable, ["run", spinningGuest, "--journal", journal, "--timeout", "30"],
                                        timeout: 20, signal: (signal, "pvmh: guest ", 0.3))
        #expect(!result.timedOut, "\(result.summary)")
        #expect(result.exitCode == 1, "\(result.summary)")
        let name = signal == SIGINT ? "SIGINT" : "SIGTERM"
        #expect(result.err.contains("\(name) received: stopping the guest and tearing down in the safe order"))
        #expect(result.out.contains("interrupted by \(name)"))
        #expect(result.out.contains("teardown (stop-vcpus → reclaim → unbind → release → destroy):"))
        let events = try journalEvents(journal)
        #expect(events.filter { $0["event"]?.string == "signal" }.count == 1)
        let teardown = events.compactMap { $0["event"]?.string }.filter { $0.hasPrefix("teardown.") }
        #expect(teardown == ["teardown.stop-vcpus", "teardown.reclaim", "teardown.unbind", "teardown.release", "teardown.destroy"],
                "exactly one teardown, in the safe order")
        #expect(events.last?["event"]?.string == "summary")
        let verdict = try #require(events.first { $0["event"]?.string == "verdict" })
        #expect(verdict["fds_left"]?.int64 == 0)
    }

    @Test("a signal that arrives before the guest runs ends in the safe teardown; no vCPU starts", arguments: [SIGINT, SIGTERM])
    func signalDuringBoot(_ signal: Int32) throws {
        // Sent at once to a child that starts with the signal blocked: it is
        // pending until the lifecycle installs its handler, i.e. during boot.
        let journal = directory.file("boot-\(signal).jsonl")
        let result = try Subprocess.run(executable, ["run", spinningGuest, "--journal", journal, "--timeout", "30"],
                                        timeout: 20, signal: (signal, "", 0), blockedSignals: [signal])
        let name = signal == SIGINT ? "SIGINT" : "SIGTERM"
        try SignalExpectations.bootInterrupted(result, journal: journal, signal: name)
    }

    @Test func aGuestThatNeverStopsIsEndedByTimeout() throws {
        let journal = directory.file("timeout.jsonl")
        let result = try Subprocess.run(executable, ["run", spinningGuest, "--timeout", "0.5", "--journal", journal], timeout: 20)
        #expect(result.exitCode == 1, "\(result.summary)")
        #expect(result.err.contains("the guest did not stop within 0.5 s (--timeout): stopping it"))
        #expect(result.out.contains("the guest did not stop before the timeout"))
        let events = try journalEvents(journal)
        #expect(events.contains { $0["event"]?.string == "timeout" })
        #expect(events.last?["event"]?.string == "summary")
    }
}

/// What every signal test checks in the journal and the output.
enum SignalExpectations {
    static func events(_ path: String) throws -> [JSON] {
        let bytes = try #require(readFile(path), "no journal at \(path)")
        return try EndToEndTests.events(String(decoding: bytes, as: UTF8.self))
    }

    /// Exactly one teardown, in the safe order, every step fine; the journal
    /// closed properly (the summary is last, the verdict found no fd left).
    static func orderlyEnd(_ events: [JSON], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let teardown = events.filter { $0["event"]?.string?.hasPrefix("teardown.") == true }
        #expect(teardown.compactMap { $0["event"]?.string } ==
                ["teardown.stop-vcpus", "teardown.reclaim", "teardown.unbind", "teardown.release", "teardown.destroy"],
                "exactly one teardown, in the safe order", sourceLocation: sourceLocation)
        #expect(teardown.allSatisfy { $0["ok"]?.bool == true }, sourceLocation: sourceLocation)
        #expect(events.last?["event"]?.string == "summary", sourceLocation: sourceLocation)
        let verdict = try #require(events.first { $0["event"]?.string == "verdict" }, sourceLocation: sourceLocation)
        #expect(verdict["fds_left"]?.int64 == 0, sourceLocation: sourceLocation)
    }

    static func bootInterrupted(_ result: ProcessResult, journal: String, signal name: String,
                                sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(!result.timedOut && result.exitCode == 1, "\(result.summary)", sourceLocation: sourceLocation)
        #expect(result.err.contains("pvmh: interrupted by \(name) before the guest ran; tearing down in the safe order"),
                "\(result.summary)", sourceLocation: sourceLocation)
        #expect(result.out.contains("teardown (stop-vcpus → reclaim → unbind → release → destroy):"), sourceLocation: sourceLocation)
        let events = try events(journal)
        let signals = events.filter { $0["event"]?.string == "signal" }
        #expect(signals.count == 1, sourceLocation: sourceLocation)
        #expect(signals.first?["signal"]?.string == name && signals.first?["during"]?.string == "boot", sourceLocation: sourceLocation)
        #expect(!events.contains { $0["event"]?.string == "vcpu.start" }, "no vCPU may start", sourceLocation: sourceLocation)
        #expect(events.contains { $0["event"]?.string == "create.vm" }, "the VM existed and was torn down", sourceLocation: sourceLocation)
        try orderlyEnd(events, sourceLocation: sourceLocation)
    }
}

/// The same on the pKVM model (no /dev/kvm needed), plus a second signal
/// during teardown, which a large model VM makes long enough to hit.
@Suite("pvmh stops a model guest cleanly", .serialized)
struct ModelSignalTests {
    let executable: String
    let directory: TemporaryDirectory
    let spinningGuest: String

    init() throws {
        executable = try #require(Subprocess.pvmhExecutable(), "the pvmh binary is not next to the test bundle")
        directory = try TemporaryDirectory()
        spinningGuest = try directory.write("spin.elf", makeELF(machine: .aarch64, code: a64(TestGuests.spin), address: 0x4008_0000))
    }

    @Test("a signal during the run tears down in the safe order", arguments: [SIGINT, SIGTERM])
    func signalDuringRun(_ signal: Int32) throws {
        let journal = directory.file("run-\(signal).jsonl")
        let result = try Subprocess.run(executable, ["run", spinningGuest, "--platform", "model", "--journal", journal],
                                        timeout: 20, signal: (signal, "pvmh: guest ", 0.3))
        let name = signal == SIGINT ? "SIGINT" : "SIGTERM"
        #expect(!result.timedOut && result.exitCode == 1, "\(result.summary)")
        #expect(result.err.contains("\(name) received: stopping the guest and tearing down in the safe order"))
        #expect(result.out.contains("interrupted by \(name)"))
        let events = try SignalExpectations.events(journal)
        #expect(events.filter { $0["event"]?.string == "signal" }.map { $0["during"]?.string } == ["run"])
        try SignalExpectations.orderlyEnd(events)
    }

    @Test("a signal before the guest runs", arguments: [SIGINT, SIGTERM])
    func signalDuringBoot(_ signal: Int32) throws {
        let journal = directory.file("boot-\(signal).jsonl")
        let result = try Subprocess.run(executable, ["run", spinningGuest, "--platform", "model", "--journal", journal],
                                        timeout: 20, signal: (signal, "", 0), blockedSignals: [signal])
        try SignalExpectations.bootInterrupted(result, journal: journal, signal: signal == SIGINT ? "SIGINT" : "SIGTERM")
    }

    @Test("a signal as soon as the VM is announced: boot or run, never death, always one teardown")
    func signalRightAfterThePlatformLine() throws {
        // Races the lifecycle's own handlers: pvmh holds SIGINT/SIGTERM
        // blocked from parsing until they are installed, so an early one waits.
        for attempt in 0..<5 {
            let journal = directory.file("early-\(attempt).jsonl")
            let result = try Subprocess.run(executable, ["run", spinningGuest, "--platform", "model", "--journal", journal],
                                            timeout: 20, signal: (SIGTERM, "pvmh: platform", 0))
            #expect(result.signal == nil && result.exitCode == 1, "\(result.summary)")
            let events = try SignalExpectations.events(journal)
            let during = events.filter { $0["event"]?.string == "signal" }.compactMap { $0["during"]?.string }
            #expect(during == ["boot"] || during == ["run"], "\(during)")
            try SignalExpectations.orderlyEnd(events)
        }
    }

    @Test("a second signal during teardown changes nothing: teardown runs once, the journal is closed")
    func secondSignalDuringTeardown() throws {
        // Reclaiming a large model VM takes a while (each page is scrubbed),
        // which is the window the second signal lands in.
        let memory = min(16 << 30, RunCommand.maximumMemory() / 2) & ~((1 << 30) - 1)
        let journal = directory.file("teardown.jsonl")
        let result = try Subprocess.run(executable, ["run", spinningGuest, "--platform", "model", "--memory", "\(memory >> 20)M",
                                                     "--journal", journal], timeout: 60,
                                        signals: [(SIGINT, "pvmh: guest ", 0.3), (SIGTERM, "tearing down in the safe order", 0)])
        #expect(!result.timedOut && result.signal == nil && result.exitCode == 1, "\(result.summary)")
        #expect(result.err.contains("another stop signal received during teardown: teardown is already under way and runs exactly once"),
                "\(result.summary)")
        let events = try SignalExpectations.events(journal)
        let signals = events.filter { $0["event"]?.string == "signal" }
        #expect(signals.count == 2)
        #expect(signals.last?["during"]?.string == "teardown")
        try SignalExpectations.orderlyEnd(events)
    }

    @Test func aGuestThatNeverStopsIsEndedByTimeout() throws {
        let journal = directory.file("timeout.jsonl")
        let result = try Subprocess.run(executable, ["run", spinningGuest, "--platform", "model", "--timeout", "0.5", "--journal", journal],
                                        timeout: 20)
        #expect(result.exitCode == 1, "\(result.summary)")
        #expect(result.err.contains("the guest did not stop within 0.5 s (--timeout): stopping it"))
        #expect(result.out.contains("  - the guest did not stop before the timeout"))
        let events = try SignalExpectations.events(journal)
        #expect(events.contains { $0["event"]?.string == "timeout" })
        try SignalExpectations.orderlyEnd(events)
    }
}
