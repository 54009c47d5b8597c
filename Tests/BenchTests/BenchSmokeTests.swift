import Glibc
import Testing
@testable import Bench

/// `pvmh bench --quick` as CI may run it: every figure and every row is in
/// the output (measured or skipped with a reason). Values are never checked:
/// benchmarks are not tests.
@Suite("pvmh bench --quick smoke test")
struct BenchSmokeTests {
    static let expectedRows = [
        "lifecycle.pvmh/c", "lifecycle.pvmh-unverified/c",
        "process.pvmh/c", "process.qemu/pvmh", "process.pvmh-auto/c",
        "transport.pvmh-share/c-raw", "transport.pvmh-share/pvmh-raw", "transport.c-share/c-raw",
        "ledger.mark-1TiB/1GiB", "ledger.op", "ledger.op-growth", "ledger.reclaim", "ledger.bytes-per-range",
        "teardown.16-MiB", "teardown.64-MiB",
        "model.interpreter-rate", "model.qemu-tcg-rate", "model.qemu/model", "model.demo-lifecycle",
    ]

    /// The pvmh binary of this build: beside the test bundle.
    static func pvmh() -> String? {
        guard let me = HostFiles.currentExecutable else { return nil }
        var directory = HostFiles.directory(of: me)
        for _ in 0..<4 {
            if HostFiles.isExecutable("\(directory)/pvmh") { return "\(directory)/pvmh" }
            directory = HostFiles.directory(of: directory)
        }
        return nil
    }

    @Test("`pvmh bench --quick --json` reports every figure and row")
    func quickJSON() throws {
        let executable = try #require(Self.pvmh(), "the pvmh binary is built beside the test bundle")
        let outcome = try Subprocess.run(executable, ["bench", "--quick", "--json", "--no-install"],
                                         captureOutput: true, timeoutSeconds: 300).get()
        #expect(outcome.exitCode == 0, "pvmh bench --quick exits 0 whatever it measured")
        let json = outcome.output
        #expect(json.hasPrefix("{\"quick\":true,"))
        for id in BenchSuite.figureIDs {
            #expect(json.contains("\"id\":\"\(id)\""), "figure \(id) is missing")
        }
        for key in Self.expectedRows {
            #expect(json.contains("\"key\":\"\(key)\""), "row \(key) is missing")
        }
        // Every row is a ratio, a value or says why it was skipped.
        let rows = json.ranges(of: "{\"key\":").count
        let kinds = ["\"kind\":\"ratio\"", "\"kind\":\"value\"", "\"kind\":\"skipped\",\"reason\":\""]
            .reduce(0) { $0 + json.ranges(of: $1).count }
        #expect(rows == kinds && rows >= Self.expectedRows.count)
    }

    @Test("`pvmh bench --quick --only ledger` prints the table with its spread")
    func quickTable() throws {
        let executable = try #require(Self.pvmh())
        let outcome = try Subprocess.run(executable, ["bench", "--quick", "--only", "ledger"], captureOutput: true).get()
        #expect(outcome.exitCode == 0)
        #expect(outcome.output.contains("4. ownership ledger at scale"))
        #expect(outcome.output.contains("ledger.mark-1TiB/1GiB"))
        #expect(outcome.output.contains("IQR"))
        #expect(outcome.output.contains("load average"))
    }
}
