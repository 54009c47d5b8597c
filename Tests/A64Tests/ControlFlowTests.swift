import Testing
@testable import A64

struct ControlFlowTests {
    @Test("loops, compare-and-branch, test-and-branch, calls and returns")
    func branches() {
        let machine = TestMachine(TestPrograms.branches, registers: [7: 0x1_0000_0000])
        // BRK #1 marks a wrong turn; with no vector table it stops as .brk(1).
        #expect(machine.run() == .hvc(0))
        let cpu = machine.cpu
        #expect(cpu[x: 0] == 55)
        #expect(cpu[x: 2] == 42)
        #expect(cpu[x: 3] == cpu[x: 4])  // BLR's link register is the next instruction
    }

    @Test("HVC and SMC stop past the instruction; WFI stops")
    func hypercalls() {
        let machine = TestMachine(TestPrograms.hypercall)
        let code = TestMachine.codeBase
        #expect(machine.run() == .hvc(0))
        #expect(machine.cpu[x: 0] == 0xC600_0002)
        #expect(machine.cpu.pc == code + 12)
        machine.cpu[x: 0] = 4096  // the embedder's result
        #expect(machine.run() == .smc(3))
        #expect(machine.cpu[x: 1] == 4097)
        #expect(machine.run() == .wfi)
        #expect(machine.cpu.pc == code + 24)
        #expect(machine.run() == .hvc(0))
    }

    @Test("rewritten code runs its new instruction (the decode cache checks the word)")
    func selfModifyingCode() {
        let machine = TestMachine(TestPrograms.selfModifying)
        #expect(machine.run() == .hvc(0))
        #expect(machine.cpu[x: 0] == 2)
    }

    @Test("the instruction budget is honoured")
    func instructionLimit() {
        let machine = TestMachine(TestPrograms.fibonacci)
        #expect(machine.run(limit: 10) == .instructionLimit)
        #expect(machine.cpu.instructionsRetired == 10)
    }

    @Test("an unsupported encoding stops with its word and PC and executes nothing")
    func unsupported() {
        let machine = TestMachine(TestPrograms.unsupportedProgram)
        let stop = machine.run()
        #expect(stop == .unsupported(word: 0x1E62_2820, pc: TestMachine.codeBase + 4))
        #expect(stop.description == "unsupported A64 instruction 0x1e622820 at pc 0x40000004")
        #expect(machine.cpu.pc == TestMachine.codeBase + 4)
        #expect(machine.cpu[x: 0] == 1)
        // It stays stopped rather than skipping ahead.
        #expect(machine.run() == stop)
    }

    @Test("an unmodelled system register stops as unsupported")
    func unsupportedSystemRegister() {
        let word: UInt32 = 0xD538_F000  // mrs x0, s3_0_c15_c0_0
        let machine = TestMachine([word, Encoding.hvc0])
        #expect(machine.run() == .unsupported(word: word, pc: TestMachine.codeBase))
    }

    @Test("enabling the MMU stops before the write, naming the reason")
    func mmuEnable() {
        let machine = TestMachine(TestPrograms.enableMMU)
        let stop = machine.run()
        #expect(stop == .mmuEnabled(pc: TestMachine.codeBase + 8))
        #expect(stop.description.contains("does not model address translation"))
        #expect(machine.cpu.system.sctlrEL1 & 1 == 0)
    }

    @Test("a fetch from unbacked memory is a bus fault")
    func fetchFault() {
        let machine = TestMachine([0xD61F_0020, Encoding.hvc0], registers: [1: 0x1000])  // br x1
        #expect(machine.run() == .busFault(address: 0x1000, pc: 0x1000, access: .fetch))
    }

    @Test("BRK without a vector table stops at the BRK")
    func breakpointWithoutVectors() {
        let machine = TestMachine(TestPrograms.brkNoVectors)
        #expect(machine.run() == .brk(0x3E8))
        #expect(machine.cpu.pc == TestMachine.codeBase + 4)
    }

    @Test("SVC and UDF without a vector table stop")
    func exceptionsWithoutVectors() {
        let svc = TestMachine([0xD400_0841, Encoding.hvc0])  // svc #0x42
        #expect(svc.run() == .svc(0x42))
        #expect(svc.cpu.pc == TestMachine.codeBase + 4)
        let udf = TestMachine([0x0000_0001])  // udf #1
        #expect(udf.run() == .undefined(word: 1, pc: TestMachine.codeBase))
    }
}

struct SystemRegisterTests {
    @Test("SPSel banks the stack pointer; PSTATE and ID registers read back")
    func stackPointersAndPState() {
        let machine = TestMachine(TestPrograms.stackPointers)
        #expect(machine.run() == .hvc(0))
        let cpu = machine.cpu
        #expect(cpu[x: 0] == TestMachine.stackTop)
        #expect(cpu[x: 1] == 0)  // SP_EL0 before it was set
        #expect(cpu[x: 3] == TestMachine.stackTop)  // SP_EL1 survived the switch
        #expect(cpu[x: 4] == 0x1000)
        #expect(cpu.spEL0 == 0x1000)
        #expect(cpu.spEL1 == TestMachine.stackTop)
        #expect(cpu[x: 5] == 4)  // CurrentEL = EL1
        #expect(cpu[x: 6] == 1)
        #expect(cpu[x: 7] == 0x3C0)
        #expect(cpu[x: 8] == 0)
        #expect(cpu[x: 9] == 0x80)
        #expect(cpu[x: 11] == 0xA000_0000)
        #expect(cpu[x: 12] == 0x410F_D034)
        #expect(cpu[x: 13] == 0x8000_0000)
        #expect(cpu[x: 14] == 0x00FF_0111)
        #expect(cpu[x: 15] == 0)  // an unallocated ID register reads as zero
        #expect(cpu[x: 16] == 0xA000_0000)
        #expect(cpu[x: 17] == 62_500_000)
        #expect(cpu.pstate == 0xA000_0000 | 0x80 | 0b0101)
    }

    @Test("system register names", arguments: [
        (A64SystemRegister.sctlrEL1, "SCTLR_EL1"), (.vbarEL1, "VBAR_EL1"), (.currentEL, "CurrentEL"),
        (A64SystemRegister(op0: 3, op1: 0, crn: 15, crm: 0, op2: 0), "S3_0_C15_C0_0"),
    ])
    func names(register: A64SystemRegister, name: String) {
        #expect(register.description == name)
    }
}

struct DiagnosticsTests {
    @Test("the register dump names the mode, flags and registers")
    func registerDump() {
        let cpu = A64CPU()
        cpu.pc = 0x4000_0010
        cpu[x: 30] = 0xABCD
        cpu.nzcv = A64CPU.flagN | A64CPU.flagC
        let dump = cpu.description
        #expect(dump.hasPrefix("pc 0x0000000040000010  EL1h  nzcv N-C-  daif 0xf"))
        #expect(dump.contains("x30 0x000000000000abcd"))
    }
}
