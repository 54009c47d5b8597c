import Testing
@testable import A64

// Words assembled with `clang --target=aarch64-none-elf -c` and read back with
// `llvm-objdump -d`; the comment is the disassembler's spelling.

private let x0 = A64Register.x(0), x1 = A64Register.x(1), x2 = A64Register.x(2), x3 = A64Register.x(3)
private let x4 = A64Register.x(4), x5 = A64Register.x(5), x6 = A64Register.x(6), x7 = A64Register.x(7)
private let x8 = A64Register.x(8), x9 = A64Register.x(9), x10 = A64Register.x(10), x11 = A64Register.x(11)
private let x12 = A64Register.x(12), x13 = A64Register.x(13), x14 = A64Register.x(14), x15 = A64Register.x(15)
private let sp = A64Register.sp, zr = A64Register.zr
private func x(_ n: Int) -> A64Register { .x(n) }

struct DecoderDataProcessingTests {
    static let immediateForms: [(UInt32, A64Instruction)] = [
        (0x9100_0420, .addSubImmediate(is64: true, subtract: false, setFlags: false, rd: x0, rn: x1, imm: 1)),  // add x0, x1, #1
        (0x9100_43FF, .addSubImmediate(is64: true, subtract: false, setFlags: false, rd: sp, rn: sp, imm: 16)),  // add sp, sp, #16
        (0xB13F_FC5F, .addSubImmediate(is64: true, subtract: false, setFlags: true, rd: zr, rn: x2, imm: 4095)),  // cmn x2, #4095
        (0x5140_0483, .addSubImmediate(is64: false, subtract: true, setFlags: false, rd: x3, rn: x4, imm: 4096)),  // sub w3, w4, #1, lsl #12
        (0x7100_1FE5, .addSubImmediate(is64: false, subtract: true, setFlags: true, rd: x5, rn: sp, imm: 7)),  // subs w5, wsp, #7
        (0x9100_03E6, .addSubImmediate(is64: true, subtract: false, setFlags: false, rd: x6, rn: sp, imm: 0)),  // mov x6, sp
        (0x9240_1C20, .logicalImmediate(is64: true, op: .and, rd: x0, rn: x1, imm: 0xFF)),  // and x0, x1, #0xff
        (0x3200_F3E2, .logicalImmediate(is64: false, op: .orr, rd: x2, rn: zr, imm: 0x5555_5555)),  // mov w2, #0x55555555
        (0xD27F_F883, .logicalImmediate(is64: true, op: .eor, rd: x3, rn: x4, imm: 0xFFFF_FFFF_FFFF_FFFE)),  // eor x3, x4, #~1
        (0xF241_00BF, .logicalImmediate(is64: true, op: .ands, rd: zr, rn: x5, imm: 0x8000_0000_0000_0000)),  // tst x5, #1<<63
        (0x927C_EC3F, .logicalImmediate(is64: true, op: .and, rd: sp, rn: x1, imm: 0xFFFF_FFFF_FFFF_FFF0)),  // and sp, x1, #~0xf
        (0xD2E2_4680, .moveWide(is64: true, op: .movz, rd: x0, imm16: 0x1234, shift: 48)),  // movz x0, #0x1234, lsl #48
        (0x1280_0001, .moveWide(is64: false, op: .movn, rd: x1, imm16: 0, shift: 0)),  // mov w1, #-1
        (0xF2B7_DDE2, .moveWide(is64: true, op: .movk, rd: x2, imm16: 0xBEEF, shift: 16)),  // movk x2, #0xbeef, lsl #16
        (0x1000_0803, .adr(rd: x3, offset: 0x100)),  // adr x3, .+0x100
        (0xB009_1A24, .adrp(rd: x4, offset: 0x1234_5000)),  // adrp x4, .+0x12345000 (linked)
        (0xD37D_F0C5, .bitfield(is64: true, op: .ubfm, rd: x5, rn: x6, immr: 61, imms: 60)),  // lsl x5, x6, #3
        (0x5304_7D07, .bitfield(is64: false, op: .ubfm, rd: x7, rn: x8, immr: 4, imms: 31)),  // lsr w7, w8, #4
        (0x937F_FD49, .bitfield(is64: true, op: .sbfm, rd: x9, rn: x10, immr: 63, imms: 63)),  // asr x9, x10, #63
        (0xD348_5D8B, .bitfield(is64: true, op: .ubfm, rd: x11, rn: x12, immr: 8, imms: 23)),  // ubfx x11, x12, #8, #16
        (0x1301_0DCD, .bitfield(is64: false, op: .sbfm, rd: x13, rn: x14, immr: 1, imms: 3)),  // sbfx w13, w14, #1, #3
        (0xB37C_1E0F, .bitfield(is64: true, op: .bfm, rd: x15, rn: x(16), immr: 60, imms: 7)),  // bfi x15, x16, #4, #8
        (0x9340_7E51, .bitfield(is64: true, op: .sbfm, rd: x(17), rn: x(18), immr: 0, imms: 31)),  // sxtw x17, w18
        (0x5300_1E93, .bitfield(is64: false, op: .ubfm, rd: x(19), rn: x(20), immr: 0, imms: 7)),  // uxtb w19, w20
        (0x93D7_46D5, .extract(is64: true, rd: x(21), rn: x(22), rm: x(23), lsb: 17)),  // extr x21, x22, x23, #17
        (0x1399_1738, .extract(is64: false, rd: x(24), rn: x(25), rm: x(25), lsb: 5)),  // ror w24, w25, #5
    ]

    static let registerForms: [(UInt32, A64Instruction)] = [
        (0x8B02_0C20, .addSubShifted(is64: true, subtract: false, setFlags: false, rd: x0, rn: x1, rm: x2, shift: .lsl, amount: 3)),  // add x0, x1, x2, lsl #3
        (0x6B85_1C83, .addSubShifted(is64: false, subtract: true, setFlags: true, rd: x3, rn: x4, rm: x5, shift: .asr, amount: 7)),  // subs w3, w4, w5, asr #7
        (0xCB07_03E6, .addSubShifted(is64: true, subtract: true, setFlags: false, rd: x6, rn: zr, rm: x7, shift: .lsl, amount: 0)),  // neg x6, x7
        (0x8B29_4BE8, .addSubExtended(is64: true, subtract: false, setFlags: false, rd: x8, rn: sp, rm: x9, extend: .uxtw, amount: 2)),  // add x8, sp, w9, uxtw #2
        (0xCB2A_63FF, .addSubExtended(is64: true, subtract: true, setFlags: false, rd: sp, rn: sp, rm: x10, extend: .uxtx, amount: 0)),  // sub sp, sp, x10
        (0xEB2C_817F, .addSubExtended(is64: true, subtract: true, setFlags: true, rd: zr, rn: x11, rm: x12, extend: .sxtb, amount: 0)),  // cmp x11, w12, sxtb
        (0x8AC2_2020, .logicalShifted(is64: true, op: .and, invert: false, rd: x0, rn: x1, rm: x2, shift: .ror, amount: 8)),  // and x0, x1, x2, ror #8
        (0x0A25_0483, .logicalShifted(is64: false, op: .and, invert: true, rd: x3, rn: x4, rm: x5, shift: .lsl, amount: 1)),  // bic w3, w4, w5, lsl #1
        (0xAA28_00E6, .logicalShifted(is64: true, op: .orr, invert: true, rd: x6, rn: x7, rm: x8, shift: .lsl, amount: 0)),  // orn x6, x7, x8
        (0xCA6B_FD49, .logicalShifted(is64: true, op: .eor, invert: true, rd: x9, rn: x10, rm: x11, shift: .lsr, amount: 63)),  // eon x9, x10, x11, lsr #63
        (0xEA2D_019F, .logicalShifted(is64: true, op: .ands, invert: true, rd: zr, rn: x12, rm: x13, shift: .lsl, amount: 0)),  // bics xzr, x12, x13
        (0xAA0F_03EE, .logicalShifted(is64: true, op: .orr, invert: false, rd: x14, rn: zr, rm: x15, shift: .lsl, amount: 0)),  // mov x14, x15
        (0x9A02_0020, .addSubCarry(is64: true, subtract: false, setFlags: false, rd: x0, rn: x1, rm: x2)),  // adc x0, x1, x2
        (0x7A05_0083, .addSubCarry(is64: false, subtract: true, setFlags: true, rd: x3, rn: x4, rm: x5)),  // sbcs w3, w4, w5
        (0x9A82_0020, .conditionalSelect(is64: true, op: .csel, rd: x0, rn: x1, rm: x2, cond: .eq)),  // csel x0, x1, x2, eq
        (0x1A85_1483, .conditionalSelect(is64: false, op: .csinc, rd: x3, rn: x4, rm: x5, cond: .ne)),  // csinc w3, w4, w5, ne
        (0xDA88_B0E6, .conditionalSelect(is64: true, op: .csinv, rd: x6, rn: x7, rm: x8, cond: .lt)),  // csinv x6, x7, x8, lt
        (0x5A8B_8549, .conditionalSelect(is64: false, op: .csneg, rd: x9, rn: x10, rm: x11, cond: .hi)),  // csneg w9, w10, w11, hi
        (0x9A9F_D7EC, .conditionalSelect(is64: true, op: .csinc, rd: x12, rn: zr, rm: zr, cond: .le)),  // cset x12, gt
        (0xFA41_1004, .conditionalCompareRegister(is64: true, negate: false, rn: x0, rm: x1, nzcv: 4, cond: .ne)),  // ccmp x0, x1, #4, ne
        (0x3A45_A842, .conditionalCompareImmediate(is64: false, negate: true, rn: x2, imm: 5, nzcv: 2, cond: .ge)),  // ccmn w2, #5, #2, ge
        (0x9AC2_2020, .shiftVariable(is64: true, shift: .lsl, rd: x0, rn: x1, rm: x2)),  // lsl x0, x1, x2
        (0x1AC5_2483, .shiftVariable(is64: false, shift: .lsr, rd: x3, rn: x4, rm: x5)),  // lsr w3, w4, w5
        (0x9AC8_28E6, .shiftVariable(is64: true, shift: .asr, rd: x6, rn: x7, rm: x8)),  // asr x6, x7, x8
        (0x1ACB_2D49, .shiftVariable(is64: false, shift: .ror, rd: x9, rn: x10, rm: x11)),  // ror w9, w10, w11
        (0x9AC2_0820, .divide(is64: true, signed: false, rd: x0, rn: x1, rm: x2)),  // udiv x0, x1, x2
        (0x1AC5_0C83, .divide(is64: false, signed: true, rd: x3, rn: x4, rm: x5)),  // sdiv w3, w4, w5
        (0x9B02_0C20, .multiplyAdd(is64: true, subtract: false, rd: x0, rn: x1, rm: x2, ra: x3)),  // madd x0, x1, x2, x3
        (0x1B06_9CA4, .multiplyAdd(is64: false, subtract: true, rd: x4, rn: x5, rm: x6, ra: x7)),  // msub w4, w5, w6, w7
        (0x9B0A_7D28, .multiplyAdd(is64: true, subtract: false, rd: x8, rn: x9, rm: x10, ra: zr)),  // mul x8, x9, x10
        (0x9B22_0C20, .multiplyAddLong(signed: true, subtract: false, rd: x0, rn: x1, rm: x2, ra: x3)),  // smaddl x0, w1, w2, x3
        (0x9BA6_9CA4, .multiplyAddLong(signed: false, subtract: true, rd: x4, rn: x5, rm: x6, ra: x7)),  // umsubl x4, w5, w6, x7
        (0x9B4A_7D28, .multiplyHigh(signed: true, rd: x8, rn: x9, rm: x10)),  // smulh x8, x9, x10
        (0x9BCD_7D8B, .multiplyHigh(signed: false, rd: x11, rn: x12, rm: x13)),  // umulh x11, x12, x13
        (0xDAC0_1020, .bitOperation(is64: true, op: .clz, rd: x0, rn: x1)),  // clz x0, x1
        (0x5AC0_1462, .bitOperation(is64: false, op: .cls, rd: x2, rn: x3)),  // cls w2, w3
        (0xDAC0_00A4, .bitOperation(is64: true, op: .rbit, rd: x4, rn: x5)),  // rbit x4, x5
        (0xDAC0_0CE6, .bitOperation(is64: true, op: .rev, rd: x6, rn: x7)),  // rev x6, x7
        (0x5AC0_0928, .bitOperation(is64: false, op: .rev, rd: x8, rn: x9)),  // rev w8, w9
        (0xDAC0_056A, .bitOperation(is64: true, op: .rev16, rd: x10, rn: x11)),  // rev16 x10, x11
        (0xDAC0_09AC, .bitOperation(is64: true, op: .rev32, rd: x12, rn: x13)),  // rev32 x12, x13
    ]

    @Test("data processing (immediate) decodes", arguments: immediateForms)
    func immediate(word: UInt32, expected: A64Instruction) {
        #expect(A64Decoder.decode(word) == expected)
    }

    @Test("data processing (register) decodes", arguments: registerForms)
    func register(word: UInt32, expected: A64Instruction) {
        #expect(A64Decoder.decode(word) == expected)
    }
}
