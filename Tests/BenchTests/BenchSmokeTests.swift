import Glibc
import Testing
@testable import Bench

/// `pvmh bench --quick` as CI may run it: every figure and every row is in
/// the output (measured or skipped with a reason), and where /dev/kvm works
/// the KVM figures' memfd rows are measured (every KVM takes a memfd).
/// Values are never checked: benchmarks are not tests.
@Suite("pvmh bench --quick smoke test")
struct BenchSmokeTests {
    /// The goal rows of the KVM figures (1, 2, 3, 5) on guest_memfd; each has
    /// a memfd twin keyed `…@memfd`.
    static let kvmRows = [
        "lifecycle.pvmh/c", "lifecycle.pvmh-unverified/c",
        "process.pvmh/c", "process.qemu/pvmh", "process.pvmh-auto/c",
        "transport.pvmh-share/c-raw", "transport.pvmh-share/pvmh-raw", "transport.c-share/c-raw",
        "transport.pvmh-share-syncregs/c-share-syncregs", "transport.pvmh-share-syncregs/c-raw",
        "teardown.16-MiB", "teardown.64-MiB",
    ]
    static let memfdRows = kvmRows.map { "\($0)@memfd" }
    static let expectedRows = kvmRows + memfdRows + [
        "ledger.mark-1TiB/1GiB", "ledger.op", "ledger.op-growth", "ledger.reclaim", "ledger.bytes-per-range",
        "model.interpreter-rate", "model.qemu-tcg-rate", "model.qemu/model", "model.demo-lifecycle",
    ]

    /// The memfd rows that must be measured where /dev/kvm works: all but
    /// QEMU's (`--no-install` may leave it missing) and, without a clang to
    /// build the C process, the whole-process ones, and without synced
    /// registers (KVM_CAP_SYNC_REGS with REGS|SREGS), the synced ones.
    static func memfdRowsToMeasure() -> [String] {
        memfdRows.filter { key in
            if key.hasPrefix("process.qemu/") { return false }
            if key.hasPrefix("process.") { return Toolchain.clang() != nil }
            if key.contains("syncregs") { return HostKVM.syncRegsCapability() & 0x3 == 0x3 }
            return true
        }
    }

    /// The "kind" of row `key` in the bench's JSON ("ratio", "value",
    /// "skipped"), nil when the row is missing. The closing quote and comma
    /// keep `teardown.16-MiB` from matching `teardown.16-MiB@memfd`.
    static func kind(of key: String, in json: String) -> String? {
        guard let row = json.firstRange(of: "{\"key\":\"\(key)\",") else { return nil }
        let rest = json[row.upperBound...]
        guard let kind = rest.firstRange(of: "\"kind\":\"") else { return nil }
        return String(rest[kind.upperBound...].prefix { $0 != "\"" })
    }

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

        // What the host has, asked directly rather than through the bench.
        guard let guestMemfd = HostKVM.guestMemfdCapability() else { return }
        for key in Self.memfdRowsToMeasure() {
            #expect(Self.kind(of: key, in: json) == "ratio", "/dev/kvm works, so \(key) must be measured, not skipped")
        }
        if guestMemfd == 0 {
            for key in Self.kvmRows {
                #expect(Self.kind(of: key, in: json) == "skipped", "no guest_memfd here, so \(key) must be skipped")
            }
            #expect(json.contains("\"reason\":\"this kernel has no guest_memfd"))
        }
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

/// Whether /dev/kvm works here and what it says about guest_memfd, asked
/// with raw ioctls (Glibc's non-variadic `ioctl` overlays), not through KVM
/// or the bench, so the test does not take the bench's word for the host.
enum HostKVM {
    static let getAPIVersion: UInt = 0xAE00    // _IO(KVMIO, 0x00)
    static let checkExtension: UInt = 0xAE03   // _IO(KVMIO, 0x03)
    static let capGuestMemfd: CInt = 234       // KVM_CAP_GUEST_MEMFD
    static let capSyncRegs: CInt = 74          // KVM_CAP_SYNC_REGS

    /// nil without a usable /dev/kvm (it does not open read-write or is not
    /// KVM API 12); else KVM_CHECK_EXTENSION(KVM_CAP_GUEST_MEMFD), 0 when absent.
    static func guestMemfdCapability() -> CInt? {
        let fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard ioctl(fd, getAPIVersion) == 12 else { return nil }
        return max(0, ioctl(fd, checkExtension, capGuestMemfd))
    }

    /// KVM_CHECK_EXTENSION(KVM_CAP_SYNC_REGS), 0 without a usable /dev/kvm.
    static func syncRegsCapability() -> CInt {
        let fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        return max(0, ioctl(fd, checkExtension, capSyncRegs))
    }
}
