import GuestImage
import PVMHTestSupport
import Testing

/// The runner's pure parts, without QEMU: reading the `-d cpu` log and
/// finding the HVCs in an image.
@Suite("QEMU trace parsing and HVC decoding")
struct QEMUTraceTests {
    /// Two states as QEMU 7.2 logs them for aarch64 (copied from a real log).
    static let log = """
         PC=0000000040080238 X00=0000000086000000 X01=0000000000000000
        X02=0000000000000000 X03=0000000000000000 X04=0000000000000004
        X05=0000000000000005 X06=0000000000000006 X07=0000000000000007
        X08=0000000000000000 X09=0000000009000000 X10=0000000000000000
        X11=0000000000000000 X12=0000000000000000 X13=0000000000000000
        X14=0000000000000000 X15=0000000000000000 X16=0000000000000000
        X17=0000000000000000 X18=0000000000000000 X19=0000000000000000
        X20=0000000040086000 X21=0000000000000000 X22=0000000000000000
        X23=0000000000000000 X24=0000000000000000 X25=0000000000000000
        X26=0000000000000000 X27=0000000000000000 X28=0000000000000000
        X29=0000000000000000 X30=0000000040080048  SP=0000000040085020
        PSTATE=400003c5 -Z-- EL1h  SVCR=00000000 --  BTYPE=0
         PC=000000004008023c X00=ffffffffffffffff X01=0000000000000000
        X02=0000000000000000 X03=0000000000000000 X04=0000000000000000
        X05=0000000000000000 X06=0000000000000000 X07=0000000000000000
        X08=0000000000000000 X09=0000000009000000 X10=0000000000000000
        X11=0000000000000000 X12=0000000000000000 X13=0000000000000000
        X14=0000000000000000 X15=0000000000000000 X16=0000000000000000
        X17=0000000000000000 X18=0000000000000000 X19=0000000000000000
        X20=0000000040086000 X21=0000000000000000 X22=0000000000000000
        X23=0000000000000000 X24=0000000000000000 X25=0000000000000000
        X26=0000000000000000 X27=0000000000000000 X28=0000000000000000
        X29=0000000000000000 X30=0000000040080048  SP=0000000040085020
        PSTATE=800003c5 N--- EL1h  SVCR=00000000 --  BTYPE=0

        """

    @Test("each PC= starts a state; X0–X30, SP and PSTATE are read, other tokens ignored")
    func parsesQEMU72Log() {
        let states = QEMUTraceParser.states(in: Array(Self.log.utf8))
        #expect(states.count == 2)
        #expect(states.map(\.pc) == [0x4008_0238, 0x4008_023C])
        #expect(states[0].x[0] == 0x8600_0000)
        #expect(Array(states[0].x[4...7]) == [4, 5, 6, 7])
        #expect(states[0].x[20] == 0x4008_6000 && states[0].x[30] == 0x4008_0048)
        #expect(states[0].sp == 0x4008_5020)
        #expect(states.map(\.pstate) == [0x4000_03C5, 0x8000_03C5])
        #expect(states[1].x[0] == UInt64.max)
    }

    @Test("an empty or truncated log yields what was complete enough to start")
    func truncatedLog() {
        #expect(QEMUTraceParser.states(in: []).isEmpty)
        let cut = Array(Self.log.utf8.prefix(80))
        let states = QEMUTraceParser.states(in: cut)
        #expect(states.count == 1 && states[0].pc == 0x4008_0238 && states[0].x[0] == 0x8600_0000)
    }

    @Test("HVC sites are found by encoding (0xD4000002 | imm16 << 5), not mistaken for SVC or SMC")
    func hvcSites() throws {
        let words: [UInt32] = [
            0xD503_201F,    // nop
            0xD400_0002,    // hvc #0
            0xD400_0001,    // svc #0
            0xD400_0003,    // smc #0
            0xD400_0022,    // hvc #1
            0xD41F_FFE2,    // hvc #0xffff
        ]
        let base = ARM64GuestProtocol.imageBase
        let image = try ELFImage(bytes: makeELF(machine: .aarch64, code: a64(words), address: base))
        #expect(QEMURunner.hvcSites(in: image) == [base + 4: 0, base + 16: 1, base + 20: 0xFFFF])
    }

    @Test("the built-in arm64 demo has one HVC (its SMCCC routine), the C demo one (SYSTEM_OFF)")
    func builtinGuestsHVCSites() throws {
        for name in ["arm64-demo", "arm64-cdemo"] {
            let image = try #require(BuiltinGuest.named(name)).image()
            #expect(QEMURunner.hvcSites(in: image).count == 1, "\(name)")
        }
    }

    @Test("QEMURun splits the UART into lines and keeps an unterminated last line")
    func uartLines() {
        func run(_ uart: String) -> QEMURun {
            QEMURun(uart: uart, hvcCalls: [], states: [], exitReason: .exited(0), qemuOutput: "",
                    tracePath: nil, commandLine: "", elapsedSeconds: 0)
        }
        #expect(run("").uartLines == [])
        #expect(run("a\nb\n").uartLines == ["a", "b"])
        #expect(run("a\n\nb").uartLines == ["a", "", "b"])
        #expect(run("a\n").exitStatus == 0)
    }
}
