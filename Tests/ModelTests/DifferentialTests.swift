import GuestImage
import Lifecycle
import PKVMModel
import PVMHTestSupport
import Testing

/// The same arm64 images on two CPUs: QEMU's TCG (independent of this
/// project) and the model's A64 interpreter. QEMU's `virt` has no pKVM, so
/// the model runs without the vendor calls too (`vendorCalls: false`); then
/// both must print the same UART transcript and make the same HVCs with the
/// same register state at each.
@Suite(
    "differential: pKVM model against QEMU",
    .enabled(if: QEMURunner.isAvailable, "needs qemu-system-aarch64 (installed by .ci/run from Debian's qemu-system-arm)"),
    .serialized)
struct DifferentialTests {
    struct ModelRun {
        var report: RunReport
        var hypercalls: [HypercallRecord]
    }

    static func runOnModel(_ guest: BuiltinGuest, vendorCalls: Bool) throws -> ModelRun {
        let platform = PKVMModelPlatform(configuration: ModelConfiguration(vendorCalls: vendorCalls))
        let lifecycle = ProtectedVMLifecycle(
            platform: platform, journal: try Journal(),
            options: RunOptions(ram: GuestRAM(base: ARM64GuestProtocol.ramBase, size: 8 << 20), timeoutSeconds: 30,
                                auditDescriptors: false),
            guestName: guest.name)
        let report = lifecycle.run(image: try guest.image())
        return ModelRun(report: report, hypercalls: platform.hypercalls)
    }

    /// PSTATE bits both CPUs must agree on: NZCV, DAIF and the mode.
    static let pstateMask: UInt64 = 0xF000_0000 | 0x3C0 | 0xF

    @Test("same transcript and HVCs on QEMU and the model", arguments: ["arm64-demo", "arm64-cdemo"])
    func sameBehaviour(_ name: String) throws {
        let guest = try #require(BuiltinGuest.named(name))
        let qemu = try QEMURunner.run(elf: guest.elfBytes, timeoutSeconds: 30, trace: true)
        try #require(qemu.exitStatus == 0, "QEMU did not power off cleanly: \(qemu)")
        let model = try Self.runOnModel(guest, vendorCalls: false)

        #expect(model.report.consoleLines == qemu.uartLines, "UART transcripts differ")
        #expect(model.report.stopReasons[0] == .poweredOff)
        try #require(model.hypercalls.count == qemu.hvcCalls.count,
                     "model made \(model.hypercalls.count) HVCs, QEMU \(qemu.hvcCalls.count)")
        for (index, (ours, theirs)) in zip(model.hypercalls, qemu.hvcCalls).enumerated() {
            #expect(ours.pc == theirs.pc, "HVC \(index): pc")
            #expect(Array(ours.registers.prefix(8)) == theirs.x, "HVC \(index) at 0x\(String(ours.pc, radix: 16)): arguments X0–X7")
            for register in 0..<31 where ours.registers[register] != theirs.state.x[register] {
                Issue.record("HVC \(index) at 0x\(String(ours.pc, radix: 16)): X\(register) is 0x\(String(ours.registers[register], radix: 16)) on the model, 0x\(String(theirs.state.x[register], radix: 16)) on QEMU")
            }
            #expect(ours.sp == theirs.state.sp, "HVC \(index): SP")
            #expect(ours.pstate & Self.pstateMask == theirs.state.pstate & Self.pstateMask, "HVC \(index): PSTATE")
        }
    }

    @Test func theCGuestPassesItsOwnChecksOnBoth() throws {
        let guest = try #require(BuiltinGuest.named("arm64-cdemo"))
        let model = try Self.runOnModel(guest, vendorCalls: true)
        #expect(model.report.passed, "\(model.report.failures)")
        #expect(model.report.checks.count >= 10 && model.report.checks.allSatisfy(\.passed))
        #expect(model.report.consoleLines.last == "cdemo guest: all checks passed")
    }

    @Test func theDemoWithPKVMSharesAndPassesEveryCheckOnTheModel() throws {
        let guest = try #require(BuiltinGuest.named("arm64-demo"))
        let model = try Self.runOnModel(guest, vendorCalls: true)
        #expect(model.report.passed, "\(model.report.failures)")
        #expect(model.report.checks.map(\.id) == Array(1...9))
        #expect(model.report.messages == ["hello from the protected arm64 guest via a shared page"])
        let functions = model.hypercalls.map { $0.registers[0] }
        #expect(functions.first == SMCCCFunction.kvmFeatures)
        #expect(functions.last == SMCCCFunction.psciSystemOff)
        #expect(functions.filter { $0 == SMCCCFunction.memShare }.count == 5)
        #expect(functions.filter { $0 == SMCCCFunction.memUnshare }.count == 3)
    }
}
