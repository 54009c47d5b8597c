import Testing
@testable import A64

// Words assembled with `clang --target=aarch64-none-elf -c` and read back with
// `llvm-objdump -d`; the comment is the assembler source.

private func x(_ n: Int) -> A64Register { .x(n) }
private let sp = A64Register.sp, zr = A64Register.zr

struct DecoderMemoryBranchTests {
    static let loadStoreForms: [(UInt32, A64Instruction)] = [
        (0xF940_0020, .loadStore(op: .load, size: 3, rt: x(0), rn: x(1), mode: .offset(0))),  // ldr x0, [x1]
        (0xB940_0BE2, .loadStore(op: .load, size: 2, rt: x(2), rn: sp, mode: .offset(8))),  // ldr w2, [sp, #8]
        (0x397F_FC83, .loadStore(op: .load, size: 0, rt: x(3), rn: x(4), mode: .offset(4095))),  // ldrb w3, [x4, #4095]
        (0x7940_04C5, .loadStore(op: .load, size: 1, rt: x(5), rn: x(6), mode: .offset(2))),  // ldrh w5, [x6, #2]
        (0x3980_0507, .loadStore(op: .loadSigned64, size: 0, rt: x(7), rn: x(8), mode: .offset(1))),  // ldrsb x7, [x8, #1]
        (0x39C0_0149, .loadStore(op: .loadSigned32, size: 0, rt: x(9), rn: x(10), mode: .offset(0))),  // ldrsb w9, [x10]
        (0x7980_0D8B, .loadStore(op: .loadSigned64, size: 1, rt: x(11), rn: x(12), mode: .offset(6))),  // ldrsh x11, [x12, #6]
        (0x78DF_E1CD, .loadStore(op: .loadSigned32, size: 1, rt: x(13), rn: x(14), mode: .offset(-2))),  // ldursh w13, [x14, #-2]
        (0xB980_060F, .loadStore(op: .loadSigned64, size: 2, rt: x(15), rn: x(16), mode: .offset(4))),  // ldrsw x15, [x16, #4]
        (0xF81F_0FF1, .loadStore(op: .store, size: 3, rt: x(17), rn: sp, mode: .preIndex(-16))),  // str x17, [sp, #-16]!
        (0xB800_4672, .loadStore(op: .store, size: 2, rt: x(18), rn: x(19), mode: .postIndex(4))),  // str w18, [x19], #4
        (0x381F_FEB4, .loadStore(op: .store, size: 0, rt: x(20), rn: x(21), mode: .preIndex(-1))),  // strb w20, [x21, #-1]!
        (0x781F_E6F6, .loadStore(op: .store, size: 1, rt: x(22), rn: x(23), mode: .postIndex(-2))),  // strh w22, [x23], #-2
        (0xF85F_8338, .loadStore(op: .load, size: 3, rt: x(24), rn: x(25), mode: .offset(-8))),  // ldur x24, [x25, #-8]
        (0xB800_337A, .loadStore(op: .store, size: 2, rt: x(26), rn: x(27), mode: .offset(3))),  // stur w26, [x27, #3]
        (0xF862_6820, .loadStore(op: .load, size: 3, rt: x(0), rn: x(1), mode: .register(x(2), .uxtx, shift: 0))),  // ldr x0, [x1, x2]
        (0xB865_7883, .loadStore(op: .load, size: 2, rt: x(3), rn: x(4), mode: .register(x(5), .uxtx, shift: 2))),  // ldr w3, [x4, x5, lsl #2]
        (0x3868_C8E6, .loadStore(op: .load, size: 0, rt: x(6), rn: x(7), mode: .register(x(8), .sxtw, shift: 0))),  // ldrb w6, [x7, w8, sxtw]
        (0x78AB_5949, .loadStore(op: .loadSigned64, size: 1, rt: x(9), rn: x(10), mode: .register(x(11), .uxtw, shift: 1))),  // ldrsh x9, [x10, w11, uxtw #1]
        (0xF82D_FBEC, .loadStore(op: .store, size: 3, rt: x(12), rn: sp, mode: .register(x(13), .sxtx, shift: 3))),  // str x12, [sp, x13, sxtx #3]
        (0x5800_02E0, .loadLiteral(op: .load, size: 3, rt: x(0), offset: 0x5C)),  // ldr x0, lit
        (0x1800_02C1, .loadLiteral(op: .load, size: 2, rt: x(1), offset: 0x58)),  // ldr w1, lit
        (0x9800_02A2, .loadLiteral(op: .loadSigned64, size: 2, rt: x(2), offset: 0x54)),  // ldrsw x2, lit
        (0xA940_07E0, .loadStorePair(op: .load, size: 3, rt: x(0), rt2: x(1), rn: sp, mode: .offset(0))),  // ldp x0, x1, [sp]
        (0x297F_0C82, .loadStorePair(op: .load, size: 2, rt: x(2), rt2: x(3), rn: x(4), mode: .offset(-8))),  // ldp w2, w3, [x4, #-8]
        (0xA9BF_7BFD, .loadStorePair(op: .store, size: 3, rt: x(29), rt2: x(30), rn: sp, mode: .preIndex(-16))),  // stp x29, x30, [sp, #-16]!
        (0xA8C1_7BFD, .loadStorePair(op: .load, size: 3, rt: x(29), rt2: x(30), rn: sp, mode: .postIndex(16))),  // ldp x29, x30, [sp], #16
        (0x6941_18E5, .loadStorePair(op: .loadSigned64, size: 2, rt: x(5), rt2: x(6), rn: x(7), mode: .offset(8))),  // ldpsw x5, x6, [x7, #8]
        (0x2980_A548, .loadStorePair(op: .store, size: 2, rt: x(8), rt2: x(9), rn: x(10), mode: .preIndex(4))),  // stp w8, w9, [x10, #4]!
        (0xA801_31AB, .loadStorePair(op: .store, size: 3, rt: x(11), rt2: x(12), rn: x(13), mode: .offset(16))),  // stnp x11, x12, [x13, #16]
        (0xC85F_7C20, .loadExclusive(size: 3, acquire: false, rt: x(0), rn: x(1))),  // ldxr x0, [x1]
        (0x885F_FFE2, .loadExclusive(size: 2, acquire: true, rt: x(2), rn: sp)),  // ldaxr w2, [sp]
        (0xC803_7CA4, .storeExclusive(size: 3, release: false, rs: x(3), rt: x(4), rn: x(5))),  // stxr w3, x4, [x5]
        (0x8806_FD07, .storeExclusive(size: 2, release: true, rs: x(6), rt: x(7), rn: x(8))),  // stlxr w6, w7, [x8]
        (0x085F_7D49, .loadExclusive(size: 0, acquire: false, rt: x(9), rn: x(10))),  // ldxrb w9, [x10]
        (0x480B_7DAC, .storeExclusive(size: 1, release: false, rs: x(11), rt: x(12), rn: x(13))),  // stxrh w11, w12, [x13]
        (0xC8DF_FDEE, .loadAcquire(size: 3, rt: x(14), rn: x(15))),  // ldar x14, [x15]
        (0x889F_FE30, .storeRelease(size: 2, rt: x(16), rn: x(17))),  // stlr w16, [x17]
        (0x08DF_FE72, .loadAcquire(size: 0, rt: x(18), rn: x(19))),  // ldarb w18, [x19]
        (0xF980_0400, .prefetch),  // prfm pldl1keep, [x0, #8]
        (0xF8A2_6833, .prefetch),  // prfm pstl2strm, [x1, x2]
        (0xF89F_F060, .prefetch),  // prfum pldl1keep, [x3, #-1]
        (0xF840_88A4, .loadStore(op: .load, size: 3, rt: x(4), rn: x(5), mode: .offset(8))),  // ldtr x4, [x5, #8]
    ]

    /// Branch offsets are relative to the branch; `top` is at 0 and `fwd` at 0xb8.
    static let branchForms: [(UInt32, A64Instruction)] = [
        (0x1400_0000, .branch(offset: 0)),  // b top (at 0)
        (0x9400_002D, .branchLink(offset: 0xB4)),  // bl fwd (at 4)
        (0x54FF_FFC0, .branchConditional(cond: .eq, offset: -8)),  // b.eq top (at 8)
        (0x5400_056F, .branchConditional(cond: .nv, offset: 0xAC)),  // b.nv fwd (at 0xc)
        (0xB4FF_FF80, .compareBranch(is64: true, nonZero: false, rt: x(0), offset: -0x10)),  // cbz x0, top
        (0x3500_0521, .compareBranch(is64: false, nonZero: true, rt: x(1), offset: 0xA4)),  // cbnz w1, fwd
        (0xB6F8_0502, .testBranch(nonZero: false, rt: x(2), bit: 63, offset: 0xA0)),  // tbz x2, #63, fwd
        (0x372F_FF23, .testBranch(nonZero: true, rt: x(3), bit: 5, offset: -0x1C)),  // tbnz w3, #5, top
        (0xD61F_0080, .branchRegister(rn: x(4))),  // br x4
        (0xD63F_00A0, .branchLinkRegister(rn: x(5))),  // blr x5
        (0xD65F_03C0, .ret(rn: x(30))),  // ret
        (0xD65F_00C0, .ret(rn: x(6))),  // ret x6
        (0xD69F_03E0, .eret),  // eret
    ]

    static let systemForms: [(UInt32, A64Instruction)] = [
        (0xD400_0001, .svc(0)),  // svc #0
        (0xD402_4682, .hvc(0x1234)),  // hvc #0x1234
        (0xD400_0023, .smc(1)),  // smc #1
        (0xD420_7D00, .brk(0x3E8)),  // brk #0x3e8
        (0x0000_0042, .udf(0x42)),  // udf #0x42
        (0xD503_207F, .wfi),  // wfi
        (0xD503_205F, .wfe),  // wfe
        (0xD503_201F, .hint(0)),  // nop
        (0xD503_203F, .hint(1)),  // yield
        (0xD503_209F, .hint(4)),  // sev
        (0xD503_233F, .hint(25)),  // paciasp (a NOP without FEAT_PAuth)
        (0xD503_3FDF, .barrier(.isb)),  // isb
        (0xD503_3F9F, .barrier(.dsb)),  // dsb sy
        (0xD503_3BBF, .barrier(.dmb)),  // dmb ish
        (0xD503_3F5F, .clrex),  // clrex
        (0xD538_1000, .mrs(rt: x(0), register: .sctlrEL1)),  // mrs x0, sctlr_el1
        (0xD518_C001, .msr(register: .vbarEL1, rt: x(1))),  // msr vbar_el1, x1
        (0xD538_4242, .mrs(rt: x(2), register: .currentEL)),  // mrs x2, currentel
        (0xD51B_4223, .msr(register: .daif, rt: x(3))),  // msr daif, x3
        (0xD53B_4204, .mrs(rt: x(4), register: .nzcv)),  // mrs x4, nzcv
        (0xD518_4205, .msr(register: .spSel, rt: x(5))),  // msr spsel, x5
        (0xD538_4106, .mrs(rt: x(6), register: .spEL0)),  // mrs x6, sp_el0
        (0xD51C_4107, .msr(register: .spEL1, rt: x(7))),  // msr sp_el1, x7
        (0xD538_00A8, .mrs(rt: x(8), register: .mpidrEL1)),  // mrs x8, mpidr_el1
        (0xD538_0709, .mrs(rt: x(9), register: .idAA64MMFR0EL1)),  // mrs x9, id_aa64mmfr0_el1
        (0xD53B_E04A, .mrs(rt: x(10), register: .cntvctEL0)),  // mrs x10, cntvct_el0
        (0xD51B_D04B, .msr(register: .tpidrEL0, rt: x(11))),  // msr tpidr_el0, x11
        (0xD503_4FDF, .msrImmediate(field: .daifSet, imm: 15)),  // msr daifset, #0xf
        (0xD503_42FF, .msrImmediate(field: .daifClear, imm: 2)),  // msr daifclr, #2
        (0xD500_41BF, .msrImmediate(field: .spSel, imm: 1)),  // msr spsel, #1
        (0xD50B_7E20, .cacheMaintenance(op1: 3, crn: 7, crm: 14, op2: 1, rt: x(0))),  // dc civac, x0
        (0xD508_751F, .cacheMaintenance(op1: 0, crn: 7, crm: 5, op2: 0, rt: zr)),  // ic iallu
        (0xD508_871F, .cacheMaintenance(op1: 0, crn: 8, crm: 7, op2: 0, rt: zr)),  // tlbi vmalle1
        (0xD518_F000, .msr(register: A64SystemRegister(op0: 3, op1: 0, crn: 15, crm: 0, op2: 0), rt: x(0))),  // msr s3_0_c15_c0_0, x0
    ]

    /// Encodings outside the modelled ISA, each of which must decode to
    /// `.unsupported` carrying the word rather than to something nearby.
    static let unsupportedWords: [UInt32] = [
        0x1E62_2820,  // fadd d0, d1, d2 (FP)
        0x3DC0_0000,  // ldr q0, [x0] (SIMD&FP register)
        0xF820_0041,  // ldadd x0, x1, [x2] (LSE)
        0xC8A0_7C41,  // cas x0, x1, [x2] (LSE)
        0x9AC2_4C20,  // crc32x w0, w1, x2 (CRC)
        0xD65F_0BFF,  // retaa (PAuth)
        0xC87F_0440,  // ldxp x0, x1, [x2] (exclusive pair)
        0xD440_0000,  // hlt #0
        0xD508_7800,  // at s1e1r, x0 (needs translation)
        0xD50B_7420,  // dc zva, x0 (writes memory; DCZID says prohibited)
        0xD500_419F,  // msr pan, #1
        0x9181_0420,  // addg x0, x1, #16, #1 (MTE)
        0x6900_0440,  // stgp x0, x1, [x2] (MTE)
        0xFFFF_FFFF,
        0x0001_0000,  // reserved group, not UDF
        0x1200_7C00,  // and w0, w0, #imms=0b011111 N=0: all-ones element (reserved)
    ]

    @Test("loads and stores decode", arguments: loadStoreForms)
    func loadStore(word: UInt32, expected: A64Instruction) {
        #expect(A64Decoder.decode(word) == expected)
    }

    @Test("branches decode", arguments: branchForms)
    func branch(word: UInt32, expected: A64Instruction) {
        #expect(A64Decoder.decode(word) == expected)
    }

    @Test("system and exception-generating instructions decode", arguments: systemForms)
    func system(word: UInt32, expected: A64Instruction) {
        #expect(A64Decoder.decode(word) == expected)
    }

    @Test("encodings outside the model decode to .unsupported(word)", arguments: unsupportedWords)
    func unsupported(word: UInt32) {
        #expect(A64Decoder.decode(word) == .unsupported(word))
    }

    @Test("every word decodes without trapping")
    func totality() {
        // A deterministic walk over the encoding space with a stride that
        // touches every top-level group and field combination many times.
        var word: UInt32 = 0
        var unsupported = 0
        for _ in 0..<400_000 {
            if case .unsupported(let w) = A64Decoder.decode(word) {
                #expect(w == word)
                unsupported += 1
            }
            word &+= 0x0000_2A5B &* 0x9E37
        }
        #expect(unsupported > 0)
    }
}
