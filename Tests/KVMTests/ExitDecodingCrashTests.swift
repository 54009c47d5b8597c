import Glibc
import KVM
import Testing

/// Decoding that must stop the process (a too-short mapping is a programming
/// error) or must not (a hostile data_offset is the guest's doing, not ours).
/// Each runs in a child process so a trap fails one test, not the whole run.
@Suite("exit decoding: preconditions and traps")
struct ExitDecodingCrashTests {
    @Test("a kvm_run shorter than 2352 bytes is a precondition failure")
    func shortRun() async {
        await #expect(processExitsWith: .failure) {
            let bytes = [UInt8](repeating: 0, count: 2351)
            _ = bytes.withUnsafeBytes { try? VCPUExit.decode(run: $0, result: 0) }
        }
    }

    @Test("exactly 2352 bytes decodes")
    func exactRun() throws {
        #expect(try SyntheticRun(reason: .hlt, count: 2352).decode() == .hlt)
    }

    /// Regression: decode once converted data_offset with `Int(UInt64)` (a
    /// trap at ≥ 2^63) and added the length in Int (an overflow trap just
    /// below Int.max), so a corrupted kvm_run killed the VMM. Run in a child
    /// so a regression fails these tests instead of the whole run.
    @Test("a data_offset at or past 2^63 is unsupported, not a trap")
    func dataOffsetPastIntMax() async {
        await #expect(processExitsWith: .success) {
            for offset in [UInt64(1) << 63, UInt64.max] {
                var run = SyntheticRun.portIO(out: true, size: 1, port: 0xE9, count: 1, dataOffset: 0)
                run.setUnion(offset, at: 8)
                guard case .unsupported = try? run.decode() else { exit(1) }
            }
            exit(0)
        }
    }

    @Test("a data_offset just below Int.max is unsupported, not an overflow trap")
    func dataOffsetOverflow() async {
        await #expect(processExitsWith: .success) {
            var run = SyntheticRun.portIO(out: true, size: 4, port: 0xE9, count: 1, dataOffset: 0)
            run.setUnion(UInt64(Int.max - 1), at: 8)
            guard case .unsupported = try? run.decode() else { exit(1) }
            exit(0)
        }
    }
}
