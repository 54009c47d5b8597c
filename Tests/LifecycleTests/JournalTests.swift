import Glibc
import Lifecycle
import Testing

@Suite("Journal")
struct JournalTests {
    @Test func jsonEscapingAndFieldOrder() {
        let value = JSONValue.object([("b", "q\"uote\\\n\u{1}"), ("a", .int(-3)), ("c", .array([.bool(true), .null, .uint(7)]))])
        #expect(value.serialized == #"{"b":"q\"uote\\\n\u0001","a":-3,"c":[true,null,7]}"#)
    }

    @Test func eventsAreTimestampedMonotonicallyAndWrittenAsJSONLines() throws {
        let path = "/tmp/pvmh-journal-test-\(getpid()).jsonl"
        defer { unlink(path) }
        let journal = try Journal(path: path)
        journal.record("first", [("n", 1)])
        journal.record("second")
        journal.close()
        let events = journal.events
        #expect(events.map(\.name) == ["first", "second"])
        #expect(events[0].timeNanoseconds <= events[1].timeNanoseconds)
        let file = try #require(fopen(path, "r"))
        defer { fclose(file) }
        var lines: [String] = []
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, Int32(buffer.count), file) != nil {
            lines.append(String(cString: buffer))
        }
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix(#"{"event":"first","t_ns":"#))
        #expect(lines[0].hasSuffix(#","n":1}"# + "\n"))
    }

    @Test func unwritableJournalIsBadInput() {
        #expect(throws: LifecycleError.self) { try Journal(path: "/nonexistent-dir/journal.jsonl") }
        do {
            _ = try Journal(path: "/nonexistent-dir/journal.jsonl")
        } catch {
            #expect(error.exitCode == 2)
            #expect(error.description.contains("/nonexistent-dir/journal.jsonl"))
        }
    }
}
