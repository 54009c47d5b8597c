import Testing
@testable import A64

struct MemoryTests {
    static let data = TestMachine.dataBase

    @Test("loads and stores: sizes, sign extension, writeback, register offsets, literals")
    func loadStore() {
        let machine = TestMachine(TestPrograms.loadStore, registers: [1: Self.data, 12: Self.data, 15: Self.data + 8, 14: 0xFFFF_FFFF])
        #expect(machine.run() == .hvc(0))
        let cpu = machine.cpu
        let stored: UInt64 = 0x8877_5566_3344_1122
        #expect(cpu[x: 2] == stored)
        #expect(cpu[x: 3] == 0x22)
        #expect(cpu[x: 4] == 0xFFFF_FFFF_FFFF_FF88)  // ldrsb x
        #expect(cpu[x: 5] == 0x0000_0000_FFFF_8877)  // ldrsh w: sign-extended to 32 bits only
        #expect(cpu[x: 6] == 0xFFFF_FFFF_8877_5566)  // ldrsw
        #expect(cpu[x: 7] == 0x3344)
        #expect(cpu[x: 8] == 0x3344_1122)  // ldr w from the pre-indexed store
        #expect(cpu[x: 9] == 0x2277_5566_3344_1122)  // strb pre-index replaced byte 7
        #expect(cpu[x: 11] == stored)  // [x12, x10, lsl #3]
        #expect(cpu[x: 13] == 0x22)  // [x15, w14, sxtw] = data + 8 - 1
        #expect(cpu[x: 16] == 0xFFFF_FFFE)  // ldr x literal
        #expect(cpu[x: 17] == 0xFFFF_FFFF_FFFF_FFFE)  // ldrsw literal
        #expect(cpu[x: 18] == stored)
        #expect(cpu[x: 1] == Self.data + 7)  // +16, −8, −1
        #expect(cpu.sp == TestMachine.stackTop)
        #expect(machine.memory[u64: TestMachine.stackTop - 16] == stored)
    }

    @Test("LDP/STP/LDPSW/LDNP with pre- and post-index writeback")
    func pairs() {
        let machine = TestMachine(TestPrograms.pairs, registers: [1: Self.data])
        #expect(machine.run() == .hvc(0))
        let cpu = machine.cpu
        #expect(cpu[x: 4] == 1)
        #expect(cpu[x: 5] == 2)
        #expect(cpu.sp == TestMachine.stackTop)
        #expect(machine.memory[u64: TestMachine.stackTop - 16] == 1)
        #expect(machine.memory[u64: TestMachine.stackTop - 8] == 2)
        #expect(cpu[x: 8] == UInt64(bitPattern: -5))
        #expect(cpu[x: 9] == 7)
        #expect(cpu[x: 10] == 0xFFFF_FFFB)
        #expect(cpu[x: 11] == 7)
        #expect(cpu[x: 12] == 0x0000_0007_FFFF_FFFB)
        #expect(cpu[x: 1] == Self.data + 32)
        #expect(cpu[x: 13] == 1)
        #expect(cpu[x: 14] == 2)
    }

    @Test("exclusive monitor: STXR succeeds after LDXR, fails after a store-exclusive or CLREX")
    func exclusives() {
        let machine = TestMachine(TestPrograms.exclusives, registers: [1: Self.data])
        #expect(machine.run() == .hvc(0))
        let cpu = machine.cpu
        #expect(cpu[x: 4] == 0)  // stxr after ldxr (and the retry loop's last stlxr)
        #expect(cpu[x: 5] == 1)  // second stxr: reservation already used
        #expect(cpu[x: 6] == 6)
        #expect(cpu[x: 7] == 1)  // after clrex
        #expect(cpu[x: 8] == 6)
        #expect(cpu[x: 9] == 0)
        #expect(cpu[x: 10] == 5)
        #expect(cpu[x: 11] == 15)
        #expect(cpu[x: 12] == 5)
    }

    @Test("MMIO loads and stores stop with the access and complete with extension and writeback")
    func mmio() throws {
        let device = TestMachine.deviceBase
        let machine = TestMachine(TestPrograms.mmio, registers: [1: device, 4: 0x1122_3344_5566_7788, 5: 0xABCD_EF01])
        let code = TestMachine.codeBase
        let cpu = machine.cpu

        var stop = machine.run()
        #expect(stop == .mmio(A64MMIOAccess(address: device + 3, size: 1, isWrite: false, value: 0, register: 2, signExtend: true, is64BitRegister: true, pc: code)))
        #expect(cpu.pc == code)
        // Running again without completing retries the same access.
        #expect(machine.run() == stop)
        #expect(throws: A64CPUError.noPendingMMIO(expected: "write")) { try cpu.completeMMIOWrite() }
        try cpu.completeMMIORead(0x80)
        #expect(cpu[x: 2] == 0xFFFF_FFFF_FFFF_FF80)
        #expect(cpu.pc == code + 4)

        stop = machine.run()
        #expect(stop == .mmio(A64MMIOAccess(address: device, size: 4, isWrite: false, value: 0, register: 3, signExtend: false, is64BitRegister: false, pc: code + 4)))
        try cpu.completeMMIORead(0xFFFF_FFFF_DEAD_BEEF)
        #expect(cpu[x: 3] == 0xDEAD_BEEF)
        #expect(cpu[x: 1] == device + 4)  // post-index applied on completion

        stop = machine.run()
        #expect(stop == .mmio(A64MMIOAccess(address: device + 12, size: 8, isWrite: true, value: 0x1122_3344_5566_7788, register: 4, signExtend: false, is64BitRegister: true, pc: code + 8)))
        #expect(cpu[x: 1] == device + 4)  // pre-index not applied until completion
        try cpu.completeMMIOWrite()
        #expect(cpu[x: 1] == device + 12)

        stop = machine.run()
        #expect(stop == .mmio(A64MMIOAccess(address: device + 12, size: 2, isWrite: true, value: 0xEF01, register: 5, signExtend: false, is64BitRegister: false, pc: code + 12)))
        #expect(stop.description == "MMIO write of 2 byte(s) 0xef01 to 0x900000c from w5 at pc 0x4000000c")
        try cpu.completeMMIOWrite()

        // A pair cannot be completed as one register: it is a bus fault.
        stop = machine.run()
        #expect(stop == .busFault(address: device + 12, pc: code + 16, access: .read))
        #expect(cpu.pc == code + 16)
    }
}
