import GuestImage
import PVMHTestSupport
import Testing

/// The built-in arm64 guests on QEMU's `virt` machine: an independent CPU
/// and a VMM without pKVM. The demo must find no memory sharing there and say
/// so; the C demo must compute exactly what the host computed for it. The
/// pKVM model's side of the comparison uses the same runs (QEMURunner).
@Suite(
    "arm64 guests under QEMU",
    .enabled(if: QEMURunner.isAvailable, "needs qemu-system-aarch64 (installed by .ci/run from Debian's qemu-system-arm)"))
struct QEMUTests {
    static let demoLines = [
        "pvmh arm64 demo guest: booted at EL1",
        "pKVM memory sharing is not available (KVM_FUNC_FEATURES = 0xffffffffffffffff)",
    ]

    /// Guests/arm64/cdemo/main.c's output; the values are its EXPECT_* constants.
    static let cdemoLines = [
        "pvmh arm64 cdemo guest: booted at EL1",
        "cdemo: crc32(\"123456789\") = 0xcbf43926",
        "cdemo: crc32(512 xorshift32 bytes) = 0x78b89167",
        "cdemo: quicksort: out-of-order pairs = 0x0",
        "cdemo: quicksort: weighted sum = 0x802b42d9de693c87",
        "cdemo: primes below 2000 = 0x12f",
        "cdemo: sum of primes below 2000 = 0x43a3a",
        "cdemo: 3^0x123456789abcdef mod 2^61-1 = 0x398e09314aaf1d6",
        "cdemo: unsigned division fold = 0x4780a574526d1a9d",
        "cdemo: signed arithmetic fold = 0xfffffffffffbb5a3",
        "cdemo: stack machine (fibonacci) = 0x523b550eaf3120e7",
        "cdemo: bit operations fold = 0x27bbb8da85698364",
        "cdemo: bitfield fold = 0xdfba930037b0c563",
        "cdemo: indirect calls fold = 0xd1cad5b41e01b308",
        "cdemo guest: all checks passed",
    ]

    static func guest(_ name: String) throws -> [UInt8] {
        try #require(BuiltinGuest.named(name), "\(name) is not a built-in guest; run Guests/build --generate").elfBytes
    }

    @Test("arm64-demo: banner, 'not available', exactly FEATURES then SYSTEM_OFF, and QEMU exits")
    func demo() throws {
        let run = try QEMURunner.run(elf: Self.guest("arm64-demo"), timeoutSeconds: 10, trace: true)
        #expect(run.exitReason == .exited(0), "\(run)")
        #expect(run.uartLines == Self.demoLines, "\(run)")
        #expect(run.hvcCalls.map(\.x0) == [SMCCCFunction.kvmFeatures, SMCCCFunction.psciSystemOff], "\(run)")
        for call in run.hvcCalls {
            #expect(call.immediate == 0 && call.x[1...3] == [0, 0, 0], "SMCCC arguments must be zero: \(call)")
        }
        // Both go through the guest's one SMCCC routine.
        #expect(Set(run.hvcCalls.map(\.pc)).count == 1, "\(run)")
    }

    @Test("arm64-cdemo: every result line, all checks passed, SYSTEM_OFF its only HVC, and QEMU exits")
    func cdemo() throws {
        let run = try QEMURunner.run(elf: Self.guest("arm64-cdemo"), timeoutSeconds: 10, trace: true)
        #expect(run.exitReason == .exited(0), "\(run)")
        #expect(run.uartLines == Self.cdemoLines, "\(run)")
        #expect(run.hvcCalls.map(\.x0) == [SMCCCFunction.psciSystemOff], "\(run)")
    }

    @Test("arm64-stress on 4 QEMU CPUs: PSCI CPU_ON starts them, each fills and verifies its pages, and QEMU exits")
    func stress() throws {
        let guest = try #require(BuiltinGuest.named("arm64-stress"))
        let parameters = StressParameters(seed: 5, rounds: 8, ramBase: ARM64GuestProtocol.ramBase, ramSize: 16 << 20, vcpus: 4)
        let image = try #require(try guest.image().applying(parameters))
        // The patched image, back into an ELF file for QEMU: the parameter
        // block is the only difference, found where the image has it.
        var elf = guest.elfBytes
        let original = try guest.image()
        for (old, new) in zip(original.segments, image.segments) where old.fileBytes != new.fileBytes {
            let offset = try #require(elf.firstRange(of: old.fileBytes)?.lowerBound)
            elf.replaceSubrange(offset..<offset + new.fileBytes.count, with: new.fileBytes)
        }
        let run = try QEMURunner.run(elf: elf, timeoutSeconds: 60, trace: true, cpus: 4)
        #expect(run.exitReason == .exited(0), "\(run)")
        // The guest fills all RAM outside its own image.
        let extent = image.guestPhysicalExtent
        let usable = (16 << 20) / 4096 - Int((extent.upperBound + 4095) / 4096 - extent.lowerBound / 4096)
        #expect(run.uartLines == [
            "pvmh stress guest: 4 vCPUs, seed 0x5, 8 rounds per vCPU",
            "stress guest: memory sharing is not available: fill and verify only",
            "stress guest: \(usable) pages to fill",
            "stress guest: 0 rounds, \(usable) pages verified, all checks passed",
        ], "\(run)")
        let calls = run.hvcCalls.map(\.x0)
        #expect(calls.filter { $0 == SMCCCFunction.psciCPUOn } .count == 3, "\(calls)")
        #expect(calls.filter { $0 == SMCCCFunction.psciCPUOff }.count == 3, "\(calls)")
        #expect(calls.last == SMCCCFunction.psciSystemOff, "\(calls)")
    }

    @Test("a trace of every instruction starts at the entry point and agrees with the HVC-only trace")
    func everyInstruction() throws {
        let elf = try Self.guest("arm64-demo")
        let run = try QEMURunner.run(elf: elf, timeoutSeconds: 10, trace: true, everyInstruction: true)
        #expect(run.exitReason == .exited(0), "\(run)")
        let first = try #require(run.states.first, "no CPU state logged: \(run)")
        #expect(first.pc == ARM64GuestProtocol.imageBase)
        #expect(first.pstate & 0xF == 0x5, "QEMU starts the guest in EL1h")
        #expect(run.hvcCalls.map(\.x0) == [SMCCCFunction.kvmFeatures, SMCCCFunction.psciSystemOff])
        // The instruction after FEATURES sees QEMU's answer: NOT_SUPPORTED.
        let features = try #require(run.states.firstIndex { $0.pc == run.hvcCalls[0].pc })
        #expect(run.states[features + 1].pc == run.hvcCalls[0].pc + 4)
        #expect(run.states[features + 1].x[0] == UInt64(bitPattern: SMCCCReturn.notSupported))
    }

    @Test("a guest that never powers off is killed at the timeout")
    func timeout() throws {
        let spin = makeELF(machine: .aarch64, code: a64([0x1400_0000]), address: ARM64GuestProtocol.imageBase)
        let run = try QEMURunner.run(elf: spin, timeoutSeconds: 1, trace: false)
        #expect(run.exitReason == .timedOut, "\(run)")
        #expect(run.exitStatus == nil)
        #expect(run.uart.isEmpty)
    }
}
