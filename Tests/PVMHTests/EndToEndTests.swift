import Glibc
import PVMHTestSupport
import Testing

/// The built pvmh binary, run as a child process on real KVM: the demo guest
/// boots, shares a page, tears down in order and leaves a valid journal.
@Suite("pvmh end to end", .enabled(if: KVMGate.enabled, "needs read/write /dev/kvm"), .serialized)
struct EndToEndTests {
    let executable: String

    init() throws {
        executable = try #require(Subprocess.pvmhExecutable(), "the pvmh binary is not next to the test bundle (\(CommandLine.arguments.first ?? "?"))")
    }

    @Test("pvmh run boots the demo guest, shares a page and passes")
    func runDemo() throws {
        let directory = try TemporaryDirectory()
        let journalPath = directory.file("run.jsonl")
        let result = try Subprocess.run(executable, ["run", "--journal", journalPath])
        #expect(result.exitCode == 0, "\(result.summary)")
        #expect(result.out.contains("pvmh x86_64 demo guest: booted in long mode"))
        #expect(result.out.contains("hello from the protected guest via a shared page"))
        #expect(result.out.contains("verdict: PASS"))
        #expect(!result.out.contains("verdict: FAIL"))
        // The strongest platform this host has: guest_memfd where offered, else memfd.
        #expect(result.out.contains("pvmh: platform x86_64-\(KVMGate.guestMemfd ? "gmem" : "memfd")"), "\(result.out.prefix(300))")
        #expect(result.out.contains("pvmh: isolation enforced by the VMM: private ranges of the host view are PROT_NONE"))
        #expect(!result.out.contains("pKVM model"), "with /dev/kvm working, run never falls back to the model")

        let journal = try #require(readFile(journalPath), "no journal at \(journalPath)")
        let events = try Self.events(String(decoding: journal, as: UTF8.self))
        try Self.checkJournal(events)
    }

    /// Every line one JSON object with "event" and a non-decreasing "t_ns".
    static func events(_ text: String) throws -> [JSON] {
        #expect(text.hasSuffix("\n"), "JSON Lines end every line, the last included")
        var events: [JSON] = []
        var last: Int64 = 0
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().enumerated() {
            let event = try JSON.parse(String(line))
            let name = try #require(event["event"]?.string, "line \(number + 1) has no \"event\": \(line)")
            let time = try #require(event["t_ns"]?.int64, "line \(number + 1) (\(name)) has no integer \"t_ns\"")
            #expect(time >= last, "t_ns went backwards at line \(number + 1) (\(name))")
            last = time
            events.append(event)
        }
        return events
    }

    static func checkJournal(_ events: [JSON]) throws {
        let names = events.compactMap { $0["event"]?.string }
        #expect(names.first == "run.start")

        let teardown = names.filter { $0.hasPrefix("teardown.") }
        #expect(teardown == ["teardown.stop-vcpus", "teardown.reclaim", "teardown.unbind", "teardown.release", "teardown.destroy"])
        for event in events where event["event"]?.string?.hasPrefix("teardown.") == true {
            #expect(event["ok"]?.bool == true, "\(event["event"]?.string ?? "")")
        }

        let memory = events.filter { ["share", "unshare"].contains($0["event"]?.string) }
        #expect(memory.count >= 2, "the demo guest shares and unshares")
        for event in memory {
            #expect(event["gfn"]?.int64 != nil, "share/unshare events carry a gfn")
            let result = try #require(event["result"]?.string, "share/unshare events carry a result")
            #expect(["ok", "rejected"].contains(result))
        }
        #expect(memory.contains { $0["event"]?.string == "share" && $0["result"]?.string == "ok" })
        #expect(memory.contains { $0["event"]?.string == "unshare" && $0["result"]?.string == "ok" })

        let summary = try #require(events.last)
        #expect(summary["event"]?.string == "summary")
        let phases = try #require(summary["phases"]?.fields, "summary has ordered phases")
        let (lastPhase, counts) = try #require(phases.last)
        #expect(counts["private"]?.int64 == 0, "phase \(lastPhase) still has private pages")
        #expect(counts["shared"]?.int64 == 0, "phase \(lastPhase) still has shared pages")
        #expect(phases.first?.1["private"]?.int64 ?? 0 > 0, "memory starts private")

        let verdict = try #require(events.first { $0["event"]?.string == "verdict" })
        #expect(verdict["passed"]?.bool == true)
        #expect(verdict["fds_left"]?.int64 == 0)
    }

    @Test("pvmh probe prints the host, KVM and the platform run would use")
    func probeText() throws {
        let result = try Subprocess.run(executable, ["probe"])
        #expect(result.exitCode == 0, "\(result.summary)")
        #expect(result.out.contains("kvm: /dev/kvm, API version 12"))
        #expect(result.out.contains("KVM_CAP_GUEST_MEMFD "))
        #expect(result.out.contains("run would use: "))
    }

    @Test("pvmh run --memory-backend memfd boots the demo on memfd memory on every KVM host")
    func runMemfd() throws {
        let directory = try TemporaryDirectory()
        let journalPath = directory.file("run.jsonl")
        let result = try Subprocess.run(executable, ["run", "--memory-backend", "memfd", "--journal", journalPath])
        #expect(result.exitCode == 0, "\(result.summary)")
        #expect(result.out.contains("pvmh: platform x86_64-memfd (x86_64 KVM + memfd)"))
        #expect(result.out.contains("verdict: PASS"))
        let journal = try #require(readFile(journalPath), "no journal at \(journalPath)")
        let events = try Self.events(String(decoding: journal, as: UTF8.self))
        let memory = try #require(events.first { $0["event"]?.string == "create.memory" })
        #expect(memory["backend"]?.string == "memfd")
        try Self.checkJournal(events)
    }

    @Test("pvmh run --memory-backend gmem without guest_memfd: one sentence, exit 2, before any VM",
          .enabled(if: !KVMGate.guestMemfd, "this host has guest_memfd, so gmem is accepted"))
    func gmemRefused() throws {
        let directory = try TemporaryDirectory()
        let journalPath = directory.file("run.jsonl")
        let result = try Subprocess.run(executable, ["run", "--memory-backend", "gmem", "--journal", journalPath])
        #expect(result.exitCode == 2, "\(result.summary)")
        #expect(result.err.contains("--memory-backend gmem"), "\(result.err)")
        #expect(result.err.contains("KVM_CAP_GUEST_MEMFD"), "\(result.err)")
        #expect(result.err.split(separator: "\n").count == 1, "one sentence: \(result.err)")
        #expect(readFile(journalPath) == nil, "refused before anything was created, the journal included")
    }

    @Test("pvmh probe --json is one valid JSON object selecting this host's strongest KVM platform")
    func probeJSON() throws {
        let result = try Subprocess.run(executable, ["probe", "--json"])
        #expect(result.exitCode == 0, "\(result.summary)")
        let lines = result.out.split(separator: "\n")
        #expect(lines.count == 1, "one object on one line")
        let probe = try JSON.parse(result.out)
        #expect(probe["api_version"]?.int64 == 12)
        #expect(probe["kvm_path"]?.string == "/dev/kvm")
        #expect(probe["kvm_error"] == nil)
        let capabilities = try #require(probe["capabilities"]?.fields)
        #expect(capabilities.contains { $0.0 == "KVM_CAP_GUEST_MEMFD" && ($0.1.int64 ?? 0) > 0 } == KVMGate.offers(.guestMemfd))
        let selected = try #require(probe["selected"]?.string)
        let platforms = try #require(probe["platforms"]?.array)
        let chosen = try #require(platforms.first { $0["id"]?.string == selected })
        #expect(chosen["available"]?.bool == true)
        #if arch(x86_64)
        // This project's x86 machines: nested KVM, default VM type only;
        // guest_memfd on some, memfd on every one.
        #expect(selected == (KVMGate.guestMemfd ? "x86_64-gmem" : "x86_64-memfd"))
        #expect(platforms.contains { $0["id"]?.string == "x86_64-memfd" && $0["available"]?.bool == true })
        #endif
    }
}
