import Glibc
import PVMHTestSupport
import Testing

/// Misbehaving guests through the pvmh binary on the model: what a person
/// sees (bounded output, one warning, a verdict) and the journal on disk.
/// BadInputTests checks each answer and the ledger in-process.
@Suite("misbehaving guests through pvmh run", .serialized)
struct MisbehavingGuestCLITests {
    let executable: String
    let directory: TemporaryDirectory

    init() throws {
        executable = try #require(Subprocess.pvmhExecutable(), "the pvmh binary is not next to the test bundle")
        directory = try TemporaryDirectory()
    }

    func guest(_ name: String, _ words: [UInt32]) throws -> String {
        try directory.write(name, makeELF(machine: .aarch64, code: a64(words), address: 0x4008_0000))
    }

    @Test("a storm of 10^5 share/unshare calls: 1000 lines, one warning, a PASS, and the rest counted in the journal")
    func storm() throws {
        let journal = directory.file("storm.jsonl")
        let start = Subprocess.now()
        let result = try Subprocess.run(executable, ["run", try guest("storm.elf", TestGuests.storm), "--platform", "model", "--journal", journal],
                                        timeout: 60)
        #expect(Subprocess.now() - start < 30)
        #expect(result.exitCode == 0, "\(result.summary)")
        let requestLines = result.out.split(separator: "\n").filter { $0.hasPrefix("vmm  | share") || $0.hasPrefix("vmm  | unshare") }
        #expect(requestLines.count == 1000)
        #expect(result.err == "pvmh: the guest made more than 1000 share/unshare requests: the rest are answered and counted, not listed (journal: memory.aggregate)\n")
        #expect(result.out.contains("verdict: PASS — guest powered off with status 0, 1/1 guest checks passed, 100000 memory requests (0 rejected as pKVM would)"))
        let events = try SignalExpectations.events(journal)
        #expect(events.count < 1100, "the journal stays bounded: \(events.count) lines")
        let aggregate = try #require(events.first { $0["event"]?.string == "memory.aggregate" })
        #expect(aggregate["requests"]?.int64 == 99_000)
        let summary = try #require(events.last)
        #expect(summary["memory_requests"]?.int64 == 100_000 && summary["journaled_requests"]?.int64 == 1000)
        try SignalExpectations.orderlyEnd(events)
    }

    @Test("an exception loop ends with a verdict naming it, not at the timeout")
    func exceptionLoop() throws {
        let journal = directory.file("loop.jsonl")
        let start = Subprocess.now()
        let result = try Subprocess.run(executable, ["run", try guest("loop.elf", TestGuests.exceptionLoop), "--platform", "model",
                                                     "--timeout", "30", "--journal", journal], timeout: 60)
        #expect(Subprocess.now() - start < 10)
        #expect(result.exitCode == 1, "\(result.summary)")
        #expect(result.out.contains("verdict: FAIL"))
        #expect(result.out.contains("  - vCPU 0 failed: exception loop: the guest's exception vector faults again and again"))
        let events = try SignalExpectations.events(journal)
        #expect(events.contains { $0["event"]?.string == "model.exception-loop" })
        #expect(!events.contains { $0["event"]?.string == "timeout" })
        try SignalExpectations.orderlyEnd(events)
    }

    @Test("a flat binary runs with --flat: the model boots raw words at the given address")
    func flatBinary() throws {
        let path = try directory.write("unknown.bin", a64(TestGuests.unknownHypercalls))
        let result = try Subprocess.run(executable, ["run", "--platform", "model", "--flat", "0x40080000", path], timeout: 30)
        #expect(result.exitCode == 0, "\(result.summary)")
        #expect(result.out.contains("pvmh: guest \(path) (flat binary at 0x40080000), 4 MiB RAM, 1 vCPU, entry 0x40080000"))
        #expect(result.out.contains("vmm  | guest check 3: pass (got -1)"))
    }
}
