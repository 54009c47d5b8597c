/// Test programs, assembled once with
/// `clang --target=aarch64-none-elf -c prog.S && llvm-objdump -d prog.o`;
/// each comment is the disassembly of the word. Programs end in `HVC #0`
/// unless they are handler fragments.
enum TestPrograms {
    /// CSEL family and CCMP/CCMN after CMP X1, X2 (X1 = 5, X2 = 9).
    static let conditionalSelect: [UInt32] = [
        0xEB02_003F,  // cmp x1, x2
        0x9A82_B023,  // csel x3, x1, x2, lt
        0x9A82_0424,  // csinc x4, x1, x2, eq
        0x5A82_0025,  // csinv w5, w1, w2, eq
        0xDA82_1426,  // csneg x6, x1, x2, ne
        0x9A81_B427,  // cinc x7, x1, ge
        0xDA81_A428,  // cneg x8, x1, lt
        0xFA42_1024,  // ccmp x1, x2, #4, ne
        0x9A9F_17E9,  // cset x9, eq
        0xFA42_0024,  // ccmp x1, x2, #4, eq
        0x9A9F_17EA,  // cset x10, eq
        0xBA43_3824,  // ccmn x1, #3, #4, lo
        0x9A9F_17EB,  // cset x11, eq
        0xD400_0002,  // hvc #0
    ]
    /// Division (including by zero and INT_MIN / -1) and the multiply family.
    static let multiplyDivide: [UInt32] = [
        0x9AC2_0823,  // udiv x3, x1, x2
        0x9AC2_0C24,  // sdiv x4, x1, x2
        0x9ADF_0825,  // udiv x5, x1, xzr
        0x1ADF_0C26,  // sdiv w6, w1, wzr
        0x9ACD_0D87,  // sdiv x7, x12, x13
        0x1ACF_0DC8,  // sdiv w8, w14, w15
        0x9B02_4029,  // madd x9, x1, x2, x16
        0x9B02_C02A,  // msub x10, x1, x2, x16
        0x9BCC_7D8B,  // umulh x11, x12, x12
        0x9B4D_7D91,  // smulh x17, x12, x13
        0x9B22_4032,  // smaddl x18, w1, w2, x16
        0x9BA2_7C33,  // umull x19, w1, w2
        0x1B02_FC34,  // mneg w20, w1, w2
        0x1AC2_09D5,  // udiv w21, w14, w2
        0xD400_0002,  // hvc #0
    ]
    /// CLZ/CLS/RBIT/REV* on X1.
    static let bitOperations: [UInt32] = [
        0xDAC0_1022,  // clz x2, x1
        0x5AC0_1023,  // clz w3, w1
        0xDAC0_13E4,  // clz x4, xzr
        0xDAC0_1425,  // cls x5, x1
        0x5AC0_1426,  // cls w6, w1
        0xDAC0_0027,  // rbit x7, x1
        0x5AC0_0028,  // rbit w8, w1
        0xDAC0_0C29,  // rev x9, x1
        0x5AC0_082A,  // rev w10, w1
        0xDAC0_042B,  // rev16 x11, x1
        0xDAC0_082C,  // rev32 x12, x1
        0xDAC0_17ED,  // cls x13, xzr
        0xD400_0002,  // hvc #0
    ]
    /// Single-register loads and stores: sizes, sign extension, pre/post-index writeback, register offsets, literals. X1 = X12 = data, X15 = data + 8, W14 = -1.
    static let loadStore: [UInt32] = [
        0xD282_2442,  // mov x2, #4386
        0xF2A6_6882,  // movk x2, #13124, lsl #16
        0xF2CA_ACC2,  // movk x2, #21862, lsl #32
        0xF2F1_0EE2,  // movk x2, #34935, lsl #48
        0xF900_0022,  // str x2, [x1]
        0x3940_0023,  // ldrb w3, [x1]
        0x3980_1C24,  // ldrsb x4, [x1, #7]
        0x79C0_0C25,  // ldrsh w5, [x1, #6]
        0xB980_0426,  // ldrsw x6, [x1, #4]
        0x7940_0427,  // ldrh w7, [x1, #2]
        0xF801_0C22,  // str x2, [x1, #16]!
        0xB85F_8428,  // ldr w8, [x1], #-8
        0x381F_FC22,  // strb w2, [x1, #-1]!
        0xF85F_9029,  // ldur x9, [x1, #-7]
        0xD280_004A,  // mov x10, #2
        0xF86A_798B,  // ldr x11, [x12, x10, lsl #3]
        0x386E_C9ED,  // ldrb w13, [x15, w14, sxtw]
        0x5800_00B0,  // ldr x16, 0x58 <lit>
        0x9800_0091,  // ldrsw x17, 0x58 <lit>
        0xF81F_0FE2,  // str x2, [sp, #-16]!
        0xF841_07F2,  // ldr x18, [sp], #16
        0xD400_0002,  // hvc #0
        0xFFFF_FFFE,  // .word 0xfffffffe
        0x0000_0000,  // .word 0x00000000
    ]
    /// LDP/STP/LDPSW/LDNP with writeback; X1 = data.
    static let pairs: [UInt32] = [
        0xD280_0022,  // mov x2, #1
        0xD280_0043,  // mov x3, #2
        0xA9BF_0FE2,  // stp x2, x3, [sp, #-16]!
        0xA8C1_17E4,  // ldp x4, x5, [sp], #16
        0x1280_0086,  // mov w6, #-5
        0x5280_00E7,  // mov w7, #7
        0x2901_1C26,  // stp w6, w7, [x1, #8]
        0x6941_2428,  // ldpsw x8, x9, [x1, #8]
        0x2941_2C2A,  // ldp w10, w11, [x1, #8]
        0xF940_042C,  // ldr x12, [x1, #8]
        0xA982_0C22,  // stp x2, x3, [x1, #32]!
        0xA840_382D,  // ldnp x13, x14, [x1]
        0xD400_0002,  // hvc #0
    ]
    /// LDXR/STXR success and failure, CLREX, an atomic-increment retry loop, LDAR/STLR; X1 = data.
    static let exclusives: [UInt32] = [
        0xD280_00A2,  // mov x2, #5
        0xF900_0022,  // str x2, [x1]
        0xC85F_7C23,  // ldxr x3, [x1]
        0x9100_0463,  // add x3, x3, #1
        0xC804_7C23,  // stxr w4, x3, [x1]
        0xC805_7C23,  // stxr w5, x3, [x1]
        0xC85F_FC26,  // ldaxr x6, [x1]
        0xD503_3F5F,  // clrex
        0xC807_FC22,  // stlxr w7, x2, [x1]
        0x885F_7C28,  // ldxr w8, [x1]
        0x8809_7C22,  // stxr w9, w2, [x1]
        0xC8DF_FC2A,  // ldar x10, [x1]
        0xC85F_FC23,  // ldaxr x3, [x1]
        0x9100_2863,  // add x3, x3, #10
        0xC804_FC23,  // stlxr w4, x3, [x1]
        0x35FF_FFA4,  // cbnz w4, 0x30 <$x+0x30>
        0xF940_002B,  // ldr x11, [x1]
        0x889F_FC22,  // stlr w2, [x1]
        0xF940_002C,  // ldr x12, [x1]
        0xD400_0002,  // hvc #0
    ]
    /// A counted loop, CBZ/CBNZ/TBZ/TBNZ, BL/BLR/RET; ends in BRK #1 if any branch goes wrong.
    static let branches: [UInt32] = [
        0xD280_0000,  // mov x0, #0
        0xD280_0141,  // mov x1, #10
        0x8B01_0000,  // add x0, x0, x1
        0xF100_0421,  // subs x1, x1, #1
        0x54FF_FFC1,  // b.ne 0x8 <loop>
        0xB400_0200,  // cbz x0, 0x54 <fail>
        0xB500_01FF,  // cbnz xzr, 0x54 <fail>
        0x3600_01C0,  // tbz w0, #0, 0x54 <fail>
        0x3708_0040,  // tbnz w0, #1, 0x28 <ok1>
        0x1400_000C,  // b 0x54 <fail>
        0x3400_0047,  // cbz w7, 0x30 <ok2>
        0x1400_000A,  // b 0x54 <fail>
        0x9400_0005,  // bl 0x44 <func>
        0x1000_00C5,  // adr x5, #24
        0xD63F_00A0,  // blr x5
        0x1000_0004,  // adr x4, #0
        0x5400_00CE,  // b.al 0x58 <done>
        0xD280_0542,  // mov x2, #42
        0xD65F_03C0,  // ret
        0xAA1E_03E3,  // mov x3, x30
        0xD65F_03C0,  // ret
        0xD420_0020,  // brk #0x1
        0xD400_0002,  // hvc #0
    ]
    /// SP banking through SPSel, PSTATE and identification registers via MRS/MSR.
    static let stackPointers: [UInt32] = [
        0x9100_03E0,  // mov x0, sp
        0xD500_40BF,  // msr SPSel, #0
        0x9100_03E1,  // mov x1, sp
        0xD282_0002,  // mov x2, #4096
        0x9100_005F,  // mov sp, x2
        0xD500_41BF,  // msr SPSel, #1
        0x9100_03E3,  // mov x3, sp
        0xD538_4104,  // mrs x4, SP_EL0
        0xD538_4245,  // mrs x5, CurrentEL
        0xD538_4206,  // mrs x6, SPSel
        0xD53B_4227,  // mrs x7, DAIF
        0xD503_4FFF,  // msr DAIFClr, #15
        0xD53B_4228,  // mrs x8, DAIF
        0xD503_42DF,  // msr DAIFSet, #2
        0xD53B_4229,  // mrs x9, DAIF
        0xD2B4_000A,  // mov x10, #2684354560
        0xD51B_420A,  // msr NZCV, x10
        0xD53B_420B,  // mrs x11, NZCV
        0xD538_000C,  // mrs x12, MIDR_EL1
        0xD538_00AD,  // mrs x13, MPIDR_EL1
        0xD538_040E,  // mrs x14, ID_AA64PFR0_EL1
        0xD538_048F,  // mrs x15, S3_0_C0_C4_4
        0xD518_D08A,  // msr TPIDR_EL1, x10
        0xD538_D090,  // mrs x16, TPIDR_EL1
        0xD53B_E011,  // mrs x17, CNTFRQ_EL0
        0xD400_0002,  // hvc #0
    ]
    /// Installs VBAR_EL1 = X0, raises SVC/BRK/UDF at EL1, drops to EL0 with ERET, raises SVC, an EL1-only MRS and HVC there, and returns to EL1 through SVC #2.
    static let exceptionMain: [UInt32] = [
        0xD518_C000,  // msr VBAR_EL1, x0
        0xD400_0841,  // svc #0x42
        0xD420_00E0,  // brk #0x7
        0x0000_0001,  // udf #1
        0x1000_0081,  // adr x1, #16
        0xD518_4021,  // msr ELR_EL1, x1
        0xD518_401F,  // msr SPSR_EL1, xzr
        0xD69F_03E0,  // eret
        0xD400_0021,  // svc #0x1
        0xD538_1002,  // mrs x2, SCTLR_EL1
        0xD400_00A2,  // hvc #0x5
        0xD400_0041,  // svc #0x2
        0xD538_4243,  // mrs x3, CurrentEL
        0x9100_03E4,  // mov x4, sp
        0xD400_0002,  // hvc #0
    ]
    /// A synchronous-exception handler: logs ESR_EL1 and SPSR_EL1 at [X28], skips non-SVC faulting instructions, and for SVC #2 returns to EL1h.
    static let exceptionHandler: [UInt32] = [
        0xD538_5209,  // mrs x9, ESR_EL1
        0xF800_8789,  // str x9, [x28], #8
        0xD538_400A,  // mrs x10, SPSR_EL1
        0xF800_878A,  // str x10, [x28], #8
        0xD35A_FD2B,  // lsr x11, x9, #26
        0xF100_557F,  // cmp x11, #21
        0x5400_00A0,  // b.eq 0x2c <$x+0x2c>
        0xD538_402C,  // mrs x12, ELR_EL1
        0x9100_118C,  // add x12, x12, #4
        0xD518_402C,  // msr ELR_EL1, x12
        0xD69F_03E0,  // eret
        0x9240_3D2D,  // and x13, x9, #0xffff
        0xF100_09BF,  // cmp x13, #2
        0x5400_0061,  // b.ne 0x40 <$x+0x40>
        0xD280_78AE,  // mov x14, #965
        0xD518_400E,  // msr SPSR_EL1, x14
        0xD69F_03E0,  // eret
    ]
    /// Loads and stores to a device at X1 that must come back as MMIO stops.
    static let mmio: [UInt32] = [
        0x3980_0C22,  // ldrsb x2, [x1, #3]
        0xB840_4423,  // ldr w3, [x1], #4
        0xF800_8C24,  // str x4, [x1, #8]!
        0x7900_0025,  // strh w5, [x1]
        0xA940_1C26,  // ldp x6, x7, [x1]
        0xD400_0002,  // hvc #0
    ]
    /// Recursive fib(20) with stack frames (STP/LDP with writeback, BL/RET); result in X19.
    static let fibonacci: [UInt32] = [
        0xD280_0280,  // mov x0, #20
        0x9400_0003,  // bl 0x10 <fib>
        0xAA00_03F3,  // mov x19, x0
        0xD400_0002,  // hvc #0
        0xF100_081F,  // cmp x0, #2
        0x5400_01A3,  // b.lo 0x48 <fib+0x38>
        0xA9BE_7BFD,  // stp x29, x30, [sp, #-32]!
        0x9100_03FD,  // mov x29, sp
        0xA901_53F3,  // stp x19, x20, [sp, #16]
        0xAA00_03F3,  // mov x19, x0
        0xD100_0400,  // sub x0, x0, #1
        0x97FF_FFF9,  // bl 0x10 <fib>
        0xAA00_03F4,  // mov x20, x0
        0xD100_0A60,  // sub x0, x19, #2
        0x97FF_FFF6,  // bl 0x10 <fib>
        0x8B14_0000,  // add x0, x0, x20
        0xA941_53F3,  // ldp x19, x20, [sp, #16]
        0xA8C2_7BFD,  // ldp x29, x30, [sp], #32
        0xD65F_03C0,  // ret
    ]
    /// Takes SVC from EL1 on SP_EL0 (vector offset 0x000).
    static let spEL0Vector: [UInt32] = [
        0xD518_C000,  // msr VBAR_EL1, x0
        0xD500_40BF,  // msr SPSel, #0
        0xD400_0121,  // svc #0x9
    ]
    /// Runs into an FP instruction, which must stop the run.
    static let unsupportedProgram: [UInt32] = [
        0xD280_0020,  // mov x0, #1
        0x1E62_2820,  // fadd d0, d1, d2
        0xD400_0002,  // hvc #0
    ]
    /// Sets SCTLR_EL1.M.
    static let enableMMU: [UInt32] = [
        0xD538_1000,  // mrs x0, SCTLR_EL1
        0xB240_0000,  // orr x0, x0, #0x1
        0xD518_1000,  // msr SCTLR_EL1, x0
        0xD503_3FDF,  // isb
        0xD400_0002,  // hvc #0
    ]
    /// Reports ESR_EL1, FAR_EL1 and ELR_EL1 to the embedder.
    static let dataAbortHandler: [UInt32] = [
        0xD538_5203,  // mrs x3, ESR_EL1
        0xD538_6004,  // mrs x4, FAR_EL1
        0xD538_4025,  // mrs x5, ELR_EL1
        0xD400_0022,  // hvc #0x1
    ]
    /// Loads from a device at X2.
    static let deviceLoad: [UInt32] = [
        0xB940_0041,  // ldr w1, [x2]
        0xD400_0002,  // hvc #0
    ]
    /// BRK with no vector table.
    static let brkNoVectors: [UInt32] = [
        0xD503_201F,  // nop
        0xD420_7D00,  // brk #0x3e8
    ]
    /// An SMCCC-style HVC: X0 = function id, result back in X0.
    static let hypercall: [UInt32] = [
        0xD280_0040,  // mov x0, #2
        0xF2B8_C000,  // movk x0, #50688, lsl #16
        0xD400_0002,  // hvc #0
        0x9100_0401,  // add x1, x0, #1
        0xD400_0063,  // smc #0x3
        0xD503_207F,  // wfi
        0xD400_0002,  // hvc #0
    ]
    /// Executes `mov x0, #1`, overwrites it with `mov x0, #2` and runs it again.
    static let selfModifying: [UInt32] = [
        0x1000_0061,  // adr x1, #12
        0x1800_0122,  // ldr w2, 0x28 <newword>
        0xD280_0003,  // mov x3, #0
        0xD280_0020,  // mov x0, #1
        0x9100_0463,  // add x3, x3, #1
        0xF100_087F,  // cmp x3, #2
        0x5400_0060,  // b.eq 0x24 <done>
        0xB900_0022,  // str w2, [x1]
        0x17FF_FFFB,  // b 0xc <patch>
        0xD400_0002,  // hvc #0
        0xD280_0040,  // mov x0, #2
    ]
}
