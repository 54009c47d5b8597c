import Testing
@testable import A64

struct ArithmeticTests {
    @Test("CSEL/CSINC/CSINV/CSNEG and CCMP/CCMN")
    func conditionalSelect() {
        let machine = TestMachine(TestPrograms.conditionalSelect, registers: [1: 5, 2: 9])
        #expect(machine.run() == .hvc(0))
        let cpu = machine.cpu
        #expect(cpu[x: 3] == 5)  // csel …, lt (5 < 9)
        #expect(cpu[x: 4] == 10)  // csinc …, eq fails → x2 + 1
        #expect(cpu[x: 5] == 0xFFFF_FFF6)  // csinv w: ~9, upper half zero
        #expect(cpu[x: 6] == 5)  // csneg …, ne holds
        #expect(cpu[x: 7] == 5)  // cinc …, ge fails
        #expect(cpu[x: 8] == UInt64(bitPattern: -5))  // cneg …, lt holds
        #expect(cpu[x: 9] == 0)  // ccmp with ne holding compares: 5 != 9
        #expect(cpu[x: 10] == 1)  // ccmp with eq failing loads #4 (Z)
        #expect(cpu[x: 11] == 0)  // ccmn with lo holding compares 5 + 3
    }

    @Test("division by zero is 0, INT_MIN / -1 wraps, multiplies keep the right bits")
    func multiplyDivide() {
        let machine = TestMachine(TestPrograms.multiplyDivide, registers: [
            1: 100, 2: 7, 12: 1 << 63, 13: ~0, 14: 0x8000_0000, 15: 0xFFFF_FFFF, 16: 1000,
        ])
        #expect(machine.run() == .hvc(0))
        let cpu = machine.cpu
        #expect(cpu[x: 3] == 14)
        #expect(cpu[x: 4] == 14)
        #expect(cpu[x: 5] == 0)
        #expect(cpu[x: 6] == 0)
        #expect(cpu[x: 7] == 1 << 63)
        #expect(cpu[x: 8] == 0x8000_0000)
        #expect(cpu[x: 9] == 1700)
        #expect(cpu[x: 10] == 300)
        #expect(cpu[x: 11] == 1 << 62)  // umulh 2^63 * 2^63
        #expect(cpu[x: 17] == 0)  // smulh INT64_MIN * -1 = 2^63: high half 0
        #expect(cpu[x: 18] == 1700)
        #expect(cpu[x: 19] == 700)
        #expect(cpu[x: 20] == 0xFFFF_FD44)  // mneg w: -700 in 32 bits
        #expect(cpu[x: 21] == 0x1249_2492)  // udiv w: 0x80000000 / 7
    }

    /// (word, X1, X2, X3, expected X0).
    static let edgeCases: [(UInt32, UInt64, UInt64, UInt64, UInt64)] = [
        (0x9AC2_0C20, UInt64(bitPattern: -7), 2, 0, UInt64(bitPattern: -3)),  // sdiv x0, x1, x2
        (0x9AC2_0C20, 7, UInt64(bitPattern: -2), 0, UInt64(bitPattern: -3)),  // sdiv x0, x1, x2
        (0x1AC2_0C20, 0xFFFF_FFF9, 2, 0, 0xFFFF_FFFD),  // sdiv w0, w1, w2: -7 / 2
        (0x1AC2_0820, 0xFFFF_FFF9, 2, 0, 0x7FFF_FFFC),  // udiv w0, w1, w2
        (0x9B42_7C20, UInt64(bitPattern: -2), 3, 0, ~0),  // smulh x0, x1, x2: -6 → high half all ones
        (0x9B22_0C20, 0xFFFF_FFFE, 3, 10, 4),  // smaddl x0, w1, w2, x3: 10 + (-2 * 3)
        (0x9BA2_0C20, 0xFFFF_FFFE, 3, 10, 0x3_0000_0004),  // umaddl x0, w1, w2, x3: 10 + 0xFFFFFFFE * 3
        (0x9B22_8C20, 0xFFFF_FFFE, 3, 10, 16),  // smsubl x0, w1, w2, x3: 10 - (-6)
    ]

    @Test("signed division rounds toward zero; long and high multiplies sign-extend", arguments: edgeCases)
    func multiplyDivideEdges(word: UInt32, x1: UInt64, x2: UInt64, x3: UInt64, expected: UInt64) {
        #expect(TestMachine.single(word, registers: [1: x1, 2: x2, 3: x3])[x: 0] == expected)
    }

    @Test("CLZ/CLS/RBIT/REV/REV16/REV32")
    func bitOperations() {
        let machine = TestMachine(TestPrograms.bitOperations, registers: [1: 0x00F0_0000_8000_1234])
        #expect(machine.run() == .hvc(0))
        let cpu = machine.cpu
        #expect(cpu[x: 2] == 8)
        #expect(cpu[x: 3] == 0)
        #expect(cpu[x: 4] == 64)
        #expect(cpu[x: 5] == 7)
        #expect(cpu[x: 6] == 0)
        #expect(cpu[x: 7] == 0x2C48_0001_0000_0F00)
        #expect(cpu[x: 8] == 0x2C48_0001)
        #expect(cpu[x: 9] == 0x3412_0080_0000_F000)
        #expect(cpu[x: 10] == 0x3412_0080)
        #expect(cpu[x: 11] == 0xF000_0000_0080_3412)
        #expect(cpu[x: 12] == 0x0000_F000_3412_0080)
        #expect(cpu[x: 13] == 63)
    }
}
