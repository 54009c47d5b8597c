import Glibc
import PVMHTestSupport
import Testing

/// `pvmh run --trace FILE --map FILE.svg` and `pvmh check --trace DIR` as
/// people use them: the built binary writes both files, on a clean run and on
/// one that fails, and they agree with the journal of the same run.
@Suite("--trace and --map", .serialized)
struct TraceOptionTests {
    let executable: String

    init() throws {
        executable = try #require(Subprocess.pvmhExecutable(), "the pvmh binary is not next to the test bundle")
    }

    struct Written {
        var result: ProcessResult
        var trace: TraceFile
        var map: MapFile
        var journal: [JSON]
    }

    func run(_ arguments: [String]) throws -> Written {
        let directory = try TemporaryDirectory()
        let (tracePath, mapPath, journalPath) = (directory.file("t.json"), directory.file("m.svg"), directory.file("j.jsonl"))
        let result = try Subprocess.run(executable, ["run"] + arguments + ["--trace", tracePath, "--map", mapPath, "--journal", journalPath])
        #expect(result.out.contains("trace: \(tracePath) (open it in ui.perfetto.dev"), "\(result.summary)")
        #expect(result.out.contains("map: \(mapPath)"))
        let trace = try TraceFile(String(decoding: try #require(readFile(tracePath)), as: UTF8.self))
        let map = try MapFile(String(decoding: try #require(readFile(mapPath)), as: UTF8.self))
        let journal = try String(decoding: try #require(readFile(journalPath)), as: UTF8.self).split(separator: "\n").map { try JSON.parse(String($0)) }
        #expect(trace.problems.isEmpty, "\(trace.problems.prefix(5))")
        #expect(map.rootName == "svg")
        let requests = journal.filter { ["share", "unshare"].contains($0["event"]?.string ?? "") }.map { event in
            "\(event["event"]?.string ?? "") gfn=0x\(String(UInt64(event["gfn"]?.int64 ?? -1), radix: 16)) pages=\(event["pages"]?.int64 ?? -1) \(event["result"]?.string ?? "")"
        }
        #expect(trace.memoryRequests() == requests, "the trace lists the journal's share/unshare sequence")
        let steps = journal.compactMap { $0["event"]?.string }.filter { $0.hasPrefix("teardown.") }.map { String($0.dropFirst(9)) }
        #expect(trace.teardownSteps().map(\.name) == steps, "the trace has the journal's teardown order")
        #expect(map.columns.filter { $0.point == "teardown" }.count == steps.count, "a column per teardown step")
        return Written(result: result, trace: trace, map: map, journal: journal)
    }

    /// The demo's picture: the shared page appears and disappears, reclaim
    /// gives every page back, release leaves them the host's.
    func checkDemoMap(_ map: MapFile) {
        let shared = map.blocks.filter { $0.state == "shared" }
        #expect(shared.count == 2 && shared.allSatisfy { $0.pages == 1 })
        let reclaim = map.columns.filter { $0.point == "teardown" }.dropFirst().first?.index ?? -1
        #expect(map.pieces(at: reclaim).count == 1 && map.pieces(at: reclaim).first?.hasSuffix(" reclaimed") == true, "\(map.pieces(at: reclaim))")
        #expect(map.pieces(at: map.columns.count - 1).count == 1 && map.pieces(at: map.columns.count - 1).first?.hasSuffix(" host") == true)
    }

    @Test("run --platform model writes a trace and a map that agree with its journal")
    func model() throws {
        let written = try run(["--platform", "model"])
        #expect(written.result.exitCode == 0, "\(written.result.summary)")
        checkDemoMap(written.map)
        #expect(written.trace.track("vCPU 0").contains { $0.name == "exit: share by the hypervisor" })
    }

    @Test("run on KVM writes a trace and a map that agree with its journal",
          .enabled(if: KVMGate.enabled, "needs read/write /dev/kvm (PVMH_REQUIRE_KVM=1 makes this a failure)"))
    func kvm() throws {
        let written = try run([])
        #expect(written.result.exitCode == 0, "\(written.result.summary)")
        checkDemoMap(written.map)
        #expect(written.trace.track("vCPU 0").contains { $0.name == "exit: share request" })
    }

    @Test("a run that fails midway (the timeout stops the guest) still writes both, up to the failure")
    func failedRun() throws {
        let directory = try TemporaryDirectory()
        let spin = try directory.write("spin.bin", a64([0x1400_0000]))
        let written = try run(["--platform", "model", "--flat", "0x40080000", spin, "--timeout", "0.3"])
        #expect(written.result.exitCode == 1)
        #expect(written.trace.track("lifecycle").contains { $0.name == "timeout" })
        #expect(written.map.texts.contains { $0.contains("did not stop within") })
        #expect(written.map.columns.last?.point == "teardown")
    }

    @Test("the README's picture is the demo's map, drawn by the command the README quotes")
    func committedMap() throws {
        let root = String(#filePath).split(separator: "/", omittingEmptySubsequences: false).dropLast(3).joined(separator: "/")
        let svg = try #require(readFile("\(root)/Docs/ownership-map.svg"), "Docs/ownership-map.svg is missing")
        let map = try MapFile(String(decoding: svg, as: UTF8.self))
        checkDemoMap(map)
        #expect(map.texts.contains("Guest RAM ownership: arm64-demo on model"))
        let readme = String(decoding: try #require(readFile("\(root)/README.md")), as: UTF8.self)
        #expect(readme.contains("`swift run pvmh run --platform model --map Docs/ownership-map.svg`"))
        #expect(readme.contains("](Docs/ownership-map.svg)"))
    }

    @Test("check --trace DIR writes one valid trace per scenario that runs a lifecycle")
    func check() throws {
        let directory = try TemporaryDirectory()
        let traces = directory.file("traces")
        let result = try Subprocess.run(executable, ["check", "--platform", "model", "--filter", "teardown.*", "--trace", traces])
        #expect(result.exitCode == 0, "\(result.summary)")
        for scenario in ["teardown.safe-order", "teardown.unbind-before-reclaim", "teardown.kernel-unbind-before-reclaim"] {
            let path = "\(traces)/\(scenario).model.json"
            #expect(result.out.contains("# \(scenario)[model]: trace: \(path)"), "\(result.out)")
            let trace = try TraceFile(String(decoding: try #require(readFile(path), "no \(path)"), as: UTF8.self))
            #expect(trace.problems.isEmpty, "\(scenario): \(trace.problems.prefix(3))")
            #expect(trace.events.contains { $0.name == "process_name" && $0.string("name")?.hasPrefix("\(scenario)[model] #1: ") == true })
            #expect(!trace.teardownSteps().isEmpty)
        }
    }

    @Test("an unusable --trace DIR for check is exit 2, one sentence, before anything runs",
          arguments: [("/etc/passwd", "trace directory /etc/passwd is not a directory; choose a writable directory for --trace"),
                      ("/nonexistent-dir/traces", "cannot create trace directory /nonexistent-dir/traces: No such file or directory; choose a writable directory for --trace")])
    func checkRefused(_ path: String, _ message: String) {
        let result = pvmh("check", "--platform", "model", "--trace", path)
        #expect(result.status == 2)
        #expect(result.out.isEmpty, "no KTAP: nothing ran")
        #expect(result.err == "pvmh: \(message)\n")
        #expect(isOneSentence(String(result.errLines.first ?? "")))
    }

    @Test("a refused option after --trace and --map leaves neither file behind")
    func nothingLeftBehind() throws {
        let directory = try TemporaryDirectory()
        let result = pvmh("run", "--platform", "model", "--trace", directory.file("t.json"), "--map", directory.file("m.svg"),
                          "--journal", "/nonexistent-dir/j.jsonl")
        #expect(result.status == 2)
        #expect(readFile(directory.file("t.json")) == nil && readFile(directory.file("m.svg")) == nil)
        let refusedMap = pvmh("run", "--platform", "model", "--trace", directory.file("t.json"), "--map", "/nonexistent-dir/m.svg")
        #expect(refusedMap.status == 2)
        #expect(readFile(directory.file("t.json")) == nil, "the trace file opened first is removed again")
    }
}
