import Lifecycle
@testable import PVMHCommand
import Testing

/// `pvmh run` options are all validated before any VM exists: a bad value is
/// exit 2 with the valid range, and no "platform" line is ever printed.
/// Parses that must succeed pass `--platform kvm`, so they neither probe
/// /dev/kvm (as `auto` does) nor depend on what this host offers.
@Suite("run option validation")
struct RunOptionTests {
    static let acceptedSizes: [(String, UInt64)] = [
        ("4M", 4 << 20), ("64MiB", 64 << 20), ("1G", 1 << 30), ("2m", 2 << 20),
        ("8mb", 8 << 20), ("3145728", 3 << 20), ("4096K", 4 << 20), ("16MIB", 16 << 20),
    ]

    @Test("--memory accepts sizes with units", arguments: acceptedSizes)
    func memoryAccepted(_ text: String, _ bytes: UInt64) throws {
        let options = try RunCommand.parse(["--platform", "kvm", "--memory", text])
        #expect(options.memory == bytes)
        let equals = try RunCommand.parse(["--platform=kvm", "--memory=\(text)"])
        #expect(equals.memory == bytes)
    }

    @Test("defaults: 4 MiB, 30 s, transport auto, /dev/kvm, no journal, the host's demo guest")
    func defaults() throws {
        let options = try RunCommand.parse(["--platform", "kvm"])
        #expect(options.memory == 4 << 20)
        #expect(options.timeout == 30)
        #expect(options.platform.rawValue == "kvm")
        #expect(options.transport == nil)
        #expect(options.kvmPath == "/dev/kvm")
        #expect(options.journalPath == nil)
        #expect(options.seed == RunOptions.defaultVerificationSeed)
        #expect(try RunCommand.parse(["--platform", "kvm", "--seed", "42"]).seed == 42)
        #if arch(x86_64)
        #expect(options.guestName == "x86_64-demo")
        #else
        #expect(options.guestName == "arm64-demo")
        #endif
    }

    @Test("--memory rejects out-of-range and malformed sizes with the valid range", arguments: [
        "0", "3K", "4097", "abc", "99999T", "1.5G", "-4M", "4Q", "", "18446744073709551615T", "1M",
    ])
    func memoryRejected(_ text: String) {
        let result = pvmh("run", "--memory=\(text)")
        #expect(result.status == 2)
        #expect(result.out.isEmpty, "nothing may start: \(result.out)")
        #expect(result.errLines.count == 1)
        let line = String(result.errLines.first ?? "")
        #expect(line.hasPrefix("pvmh: --memory \(text) "))
        #expect(line.contains("between 2 MiB and "), "the message gives the valid range: \(line)")
        #expect(line.contains("such as 4M, 64MiB or 1G"))
    }

    @Test("--memory that is in range but not page aligned says so")
    func memoryUnaligned() {
        let result = pvmh("run", "--memory", "2097153")
        #expect(result.status == 2)
        #expect(result.err.contains("not a multiple of the 4096-byte page size"))
        #expect(result.err.contains("between 2 MiB and "))
    }

    static let parserCases: [(String, UInt64?)] = [
        ("2M", 2 << 20), ("1T", nil), ("1G", 1 << 30), ("1025M", nil), ("1024m", 1 << 30),
    ]

    @Test("the memory parser's range and units", arguments: parserCases)
    func memoryParser(_ text: String, _ expected: UInt64?) {
        let parsed = try? ValueParser.memorySize(text, minimum: 2 << 20, maximum: 1 << 30)
        #expect(parsed == expected)
    }

    @Test("--timeout rejects non-positive, malformed and absurd values", arguments: [
        "0", "-1", "abc", "1e9", "nan", "inf", "86401", "0x",
    ])
    func timeoutRejected(_ text: String) {
        let result = pvmh("run", "--timeout", text)
        #expect(result.status == 2)
        #expect(result.out.isEmpty)
        #expect(result.err == "pvmh: --timeout \(text) is not a duration; give seconds between 0.001 and 86400, such as --timeout 5\n")
    }

    @Test("--timeout accepts seconds", arguments: [("0.5", 0.5), ("5", 5.0), ("86400", 86400.0), ("1e3", 1000.0)])
    func timeoutAccepted(_ text: String, _ seconds: Double) throws {
        #expect(try RunCommand.parse(["--platform", "kvm", "--timeout", text]).timeout == seconds)
    }

    @Test("--platform rejects names it does not know", arguments: ["bogus", "KVM", "pkvm", ""])
    func platformRejected(_ text: String) {
        let result = pvmh("run", "--platform=\(text)")
        #expect(result.status == 2)
        #expect(result.out.isEmpty)
        #expect(result.errLines.count == 1)
        #expect(result.err.hasPrefix("pvmh: --platform \(text) is not a platform; use auto, kvm"))
    }

    @Test("a KVM device that does not exist is exit 1 naming it, before any platform line")
    func missingKVMDevice() throws {
        let directory = try TemporaryDirectory()
        let journal = directory.file("j.jsonl")
        let result = pvmh("run", "--platform", "kvm", "--kvm", "/nonexistent/kvm", "--journal", journal)
        #expect(result.status == 1)
        #expect(!result.out.contains("platform"))
        #expect(result.errLines.count == 1)
        #expect(result.err.contains("/nonexistent/kvm"))
        // The journal still says why, as valid JSON Lines.
        let text = String(decoding: try #require(readFile(journal)), as: UTF8.self)
        let lines = text.split(separator: "\n")
        let last = try JSON.parse(String(try #require(lines.last)))
        #expect(last["event"]?.string == "error")
        #expect(last["message"]?.string?.contains("/nonexistent/kvm") == true)
    }

    @Test("--transport accepts auto, vmcall and doorbell only", arguments: ["bogus", "hypercall", "Doorbell"])
    func transportRejected(_ text: String) {
        let result = pvmh("run", "--transport", text)
        #expect(result.status == 2)
        #expect(result.out.isEmpty)
        #expect(result.err == "pvmh: --transport \(text) is not a transport; use auto, vmcall or doorbell\n")
    }

    @Test("--transport values parse", arguments: [("auto", String?.none), ("vmcall", "vmcall"), ("doorbell", "doorbell")])
    func transportAccepted(_ text: String, _ expected: String?) throws {
        #expect(try RunCommand.parse(["--platform", "kvm", "--transport", text]).transport?.rawValue == expected)
    }

    @Test("--journal and --kvm are taken as given")
    func paths() throws {
        let options = try RunCommand.parse(["--platform", "kvm", "--journal", "/tmp/j.jsonl", "--kvm=/dev/kvm2"])
        #expect(options.journalPath == "/tmp/j.jsonl")
        #expect(options.kvmPath == "/dev/kvm2")
    }
}
