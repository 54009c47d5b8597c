import Glibc
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
