import Testing
@testable import A64

struct ExceptionTests {
    static let vectors: UInt64 = 0x4001_0000
    static let log = TestMachine.dataBase

    /// ESR_EL1 value: EC, IL = 1, ISS.
    static func esr(_ ec: UInt64, _ iss: UInt64 = 0) -> UInt64 { ec << 26 | 1 << 25 | iss }

    @Test("SVC/BRK/UDF at EL1, then SVC/UNDEF at EL0, reach the right vectors and ERET back")
    func roundTrip() {
        let machine = TestMachine(TestPrograms.exceptionMain, registers: [0: Self.vectors, 28: Self.log])
        // The same handler at "current EL with SP_ELx" and "lower EL, AArch64";
        // each entry first counts itself (ADD X26/X25, #1), so the test can tell
        // which vector was used.
        machine.memory.load([0x9100_075A] + TestPrograms.exceptionHandler, at: Self.vectors + 0x200)  // add x26, x26, #1
        machine.memory.load([0x9100_0739] + TestPrograms.exceptionHandler, at: Self.vectors + 0x400)  // add x25, x25, #1
        #expect(machine.run() == .hvc(0))
        let cpu = machine.cpu
        #expect(cpu[x: 26] == 3)  // svc, brk, udf from EL1h
        #expect(cpu[x: 25] == 4)  // svc, mrs, hvc, svc from EL0
        #expect(cpu[x: 3] == 4)  // back at EL1
        #expect(cpu[x: 4] == TestMachine.stackTop)  // on SP_EL1
        let expected: [(esr: UInt64, spsr: UInt64)] = [
            (Self.esr(0x15, 0x42), 0x3C5),  // SVC #0x42 from EL1h, DAIF masked
            (Self.esr(0x3C, 7), 0x3C5),  // BRK #7
            (Self.esr(0x00), 0x3C5),  // UDF
            (Self.esr(0x15, 1), 0),  // SVC #1 from EL0t with DAIF clear
            (Self.esr(0x00), 0),  // MRS SCTLR_EL1 at EL0 is UNDEFINED
            (Self.esr(0x00), 0),  // HVC at EL0 is UNDEFINED
            (Self.esr(0x15, 2), 0),  // SVC #2
        ]
        for (i, entry) in expected.enumerated() {
            #expect(machine.memory[u64: Self.log + UInt64(16 * i)] == entry.esr, "ESR of exception \(i)")
            #expect(machine.memory[u64: Self.log + UInt64(16 * i + 8)] == entry.spsr, "SPSR of exception \(i)")
        }
        #expect(cpu[x: 28] == Self.log + 16 * 7)
    }

    @Test("an exception from EL1 on SP_EL0 uses vector offset 0x000 and switches to SP_EL1")
    func spEL0Vector() {
        let machine = TestMachine(TestPrograms.spEL0Vector, registers: [0: Self.vectors])
        machine.memory.load([0xD400_0062], at: Self.vectors)  // hvc #3
        #expect(machine.run() == .hvc(3))
        let cpu = machine.cpu
        #expect(cpu.system.elrEL1 == TestMachine.codeBase + 12)  // after the SVC
        #expect(cpu.system.spsrEL1 == 0x3C4)  // EL1t
        #expect(cpu.system.esrEL1 == Self.esr(0x15, 9))
        #expect(cpu.pstate & 0x1F == 0b0101)
        #expect(cpu.sp == TestMachine.stackTop)
    }

    @Test("an MMIO access the embedder rejects becomes a data abort at the faulting instruction")
    func injectedDataAbort() throws {
        let device = TestMachine.deviceBase
        let machine = TestMachine(TestPrograms.deviceLoad, registers: [2: device])
        machine.cpu.system.vbarEL1 = Self.vectors
        machine.memory.load(TestPrograms.dataAbortHandler, at: Self.vectors + 0x200)
        guard case .mmio(let access) = machine.run() else {
            Issue.record("expected an MMIO stop")
            return
        }
        try machine.cpu.injectDataAbort(address: access.address, isWrite: access.isWrite)
        #expect(machine.cpu.pendingMMIOAccess == nil)
        #expect(machine.run() == .hvc(1))
        #expect(machine.cpu[x: 3] == Self.esr(0x25, 0x10))  // same-EL data abort, external abort
        #expect(machine.cpu[x: 4] == device)
        #expect(machine.cpu[x: 5] == TestMachine.codeBase)
    }

    @Test("a data abort from EL0 has EC 0x24 and uses the lower-EL vector")
    func lowerELDataAbort() throws {
        let machine = TestMachine([Encoding.nop])
        machine.cpu.system.vbarEL1 = Self.vectors
        machine.cpu.pstate = 0  // EL0t
        try machine.cpu.injectDataAbort(address: 0x1234, isWrite: true)
        #expect(machine.cpu.pc == Self.vectors + 0x400)
        #expect(machine.cpu.system.esrEL1 == Self.esr(0x24, 1 << 6 | 0x10))
        #expect(machine.cpu.system.farEL1 == 0x1234)
        #expect(machine.cpu.system.spsrEL1 == 0)
        #expect(machine.cpu.exceptionLevel == 1)
    }

    @Test("injecting without a vector table throws a sentence")
    func injectWithoutVectors() {
        let cpu = A64CPU()
        #expect(throws: A64CPUError.self) { try cpu.injectDataAbort(address: 0x10) }
        do {
            try cpu.injectUndefined()
            Issue.record("injectUndefined should throw without a vector table")
        } catch {
            #expect(error.description.contains("VBAR_EL1 is 0"))
        }
    }

    @Test("injectUndefined delivers EC 0 with ELR at the current instruction")
    func injectedUndefined() throws {
        let machine = TestMachine(TestPrograms.unsupportedProgram)
        machine.cpu.system.vbarEL1 = Self.vectors
        machine.memory.load([0xD400_0042], at: Self.vectors + 0x200)  // hvc #2
        #expect(machine.run() == .unsupported(word: 0x1E62_2820, pc: TestMachine.codeBase + 4))
        try machine.cpu.injectUndefined()
        #expect(machine.run() == .hvc(2))
        #expect(machine.cpu.system.elrEL1 == TestMachine.codeBase + 4)
        #expect(machine.cpu.system.esrEL1 == Self.esr(0))
    }

    @Test("ERET to a mode that does not exist here stops as an illegal return")
    func illegalReturn() {
        let machine = TestMachine([Encoding.eret])
        machine.cpu.system.spsrEL1 = 0x3C9  // EL2h
        #expect(machine.run() == .illegalExceptionReturn(spsr: 0x3C9, pc: TestMachine.codeBase))
    }

    @Test("ERET clears the exclusive monitor")
    func eretClearsMonitor() {
        // ldxr x3, [x1] ; eret (to the next instruction) ; stxr w4, x3, [x1] ; hvc #0
        let program: [UInt32] = [0xC85F_7C23, Encoding.eret, 0xC804_7C23, Encoding.hvc0]
        let machine = TestMachine(program, registers: [1: TestMachine.dataBase])
        machine.cpu.system.elrEL1 = TestMachine.codeBase + 8
        machine.cpu.system.spsrEL1 = 0x3C5
        #expect(machine.run() == .hvc(0))
        #expect(machine.cpu[x: 4] == 1)
    }
}
