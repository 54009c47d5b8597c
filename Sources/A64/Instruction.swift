/// One decoded A64 instruction: a case per instruction form, with its fields.
///
/// Aliases decode to their base form (`MOV X0, X1` is `ORR X0, XZR, X1`,
/// `LSR` is `UBFM`, `CMP` is `SUBS XZR, …`), so semantics live in one place.
/// Register operands are ``A64Register`` values with register 31 resolved to
/// XZR or SP as the encoding specifies. `is64` is the `sf` bit: false means the
/// W form, whose result is zero-extended into the X register.
///
/// Any encoding the interpreter does not implement — unallocated, SIMD/FP, or an
/// extension beyond the base integer ISA — decodes to ``unsupported(_:)``; it is
/// never guessed at.
public enum A64Instruction: Equatable, Sendable {
    // MARK: Data processing — immediate

    /// ADD/ADDS/SUB/SUBS (immediate); `imm` already includes the `LSL #12`.
    case addSubImmediate(is64: Bool, subtract: Bool, setFlags: Bool, rd: A64Register, rn: A64Register, imm: UInt32)
    /// AND/ORR/EOR/ANDS (immediate); `imm` is the expanded bitmask.
    case logicalImmediate(is64: Bool, op: A64LogicalOp, rd: A64Register, rn: A64Register, imm: UInt64)
    /// MOVN/MOVZ/MOVK; `shift` is `hw * 16`.
    case moveWide(is64: Bool, op: A64MoveWideOp, rd: A64Register, imm16: UInt16, shift: UInt8)
    /// ADR: `rd = pc + offset`.
    case adr(rd: A64Register, offset: Int64)
    /// ADRP: `rd = (pc & ~0xFFF) + offset`, `offset` a multiple of 4 KiB.
    case adrp(rd: A64Register, offset: Int64)
    /// SBFM/BFM/UBFM and all their aliases.
    case bitfield(is64: Bool, op: A64BitfieldOp, rd: A64Register, rn: A64Register, immr: UInt8, imms: UInt8)
    /// EXTR (ROR immediate is EXTR with rn == rm).
    case extract(is64: Bool, rd: A64Register, rn: A64Register, rm: A64Register, lsb: UInt8)

    // MARK: Data processing — register

    /// ADD/ADDS/SUB/SUBS (shifted register); NEG, CMP, CMN are aliases.
    case addSubShifted(is64: Bool, subtract: Bool, setFlags: Bool, rd: A64Register, rn: A64Register, rm: A64Register, shift: A64Shift, amount: UInt8)
    /// ADD/ADDS/SUB/SUBS (extended register); `amount` is 0–4.
    case addSubExtended(is64: Bool, subtract: Bool, setFlags: Bool, rd: A64Register, rn: A64Register, rm: A64Register, extend: A64Extend, amount: UInt8)
    /// ADC/ADCS/SBC/SBCS.
    case addSubCarry(is64: Bool, subtract: Bool, setFlags: Bool, rd: A64Register, rn: A64Register, rm: A64Register)
    /// AND/ORR/EOR/ANDS (shifted register); `invert` gives BIC/ORN/EON/BICS.
    case logicalShifted(is64: Bool, op: A64LogicalOp, invert: Bool, rd: A64Register, rn: A64Register, rm: A64Register, shift: A64Shift, amount: UInt8)
    /// CSEL/CSINC/CSINV/CSNEG (CSET, CINC, CNEG… are aliases).
    case conditionalSelect(is64: Bool, op: A64SelectOp, rd: A64Register, rn: A64Register, rm: A64Register, cond: A64Condition)
    /// CCMP/CCMN (register).
    case conditionalCompareRegister(is64: Bool, negate: Bool, rn: A64Register, rm: A64Register, nzcv: UInt8, cond: A64Condition)
    /// CCMP/CCMN (immediate); `negate` selects CCMN.
    case conditionalCompareImmediate(is64: Bool, negate: Bool, rn: A64Register, imm: UInt8, nzcv: UInt8, cond: A64Condition)
    /// LSLV/LSRV/ASRV/RORV.
    case shiftVariable(is64: Bool, shift: A64Shift, rd: A64Register, rn: A64Register, rm: A64Register)
    /// UDIV/SDIV.
    case divide(is64: Bool, signed: Bool, rd: A64Register, rn: A64Register, rm: A64Register)
    /// MADD/MSUB (MUL and MNEG are aliases with ra = XZR).
    case multiplyAdd(is64: Bool, subtract: Bool, rd: A64Register, rn: A64Register, rm: A64Register, ra: A64Register)
    /// SMADDL/SMSUBL/UMADDL/UMSUBL (SMULL/UMULL are aliases).
    case multiplyAddLong(signed: Bool, subtract: Bool, rd: A64Register, rn: A64Register, rm: A64Register, ra: A64Register)
    /// SMULH/UMULH.
    case multiplyHigh(signed: Bool, rd: A64Register, rn: A64Register, rm: A64Register)
    /// RBIT/REV16/REV32/REV/CLZ/CLS.
    case bitOperation(is64: Bool, op: A64BitOp, rd: A64Register, rn: A64Register)

    // MARK: Loads and stores

    /// Single-register load/store; `size` is log2 of the access size in bytes.
    case loadStore(op: A64MemoryOp, size: UInt8, rt: A64Register, rn: A64Register, mode: A64AddressMode)
    /// LDR/LDRSW (literal): the address is `pc + offset`.
    case loadLiteral(op: A64MemoryOp, size: UInt8, rt: A64Register, offset: Int64)
    /// LDP/STP/LDPSW (and LDNP/STNP); `size` is log2 of one element's size.
    case loadStorePair(op: A64MemoryOp, size: UInt8, rt: A64Register, rt2: A64Register, rn: A64Register, mode: A64AddressMode)
    /// LDXR/LDAXR.
    case loadExclusive(size: UInt8, acquire: Bool, rt: A64Register, rn: A64Register)
    /// STXR/STLXR; `rs` receives 0 on success, 1 on failure.
    case storeExclusive(size: UInt8, release: Bool, rs: A64Register, rt: A64Register, rn: A64Register)
    /// LDAR.
    case loadAcquire(size: UInt8, rt: A64Register, rn: A64Register)
    /// STLR.
    case storeRelease(size: UInt8, rt: A64Register, rn: A64Register)
    /// PRFM/PRFUM in any addressing form: a hint with no architectural effect.
    case prefetch

    // MARK: Branches

    /// B.
    case branch(offset: Int64)
    /// BL.
    case branchLink(offset: Int64)
    /// B.cond.
    case branchConditional(cond: A64Condition, offset: Int64)
    /// CBZ/CBNZ.
    case compareBranch(is64: Bool, nonZero: Bool, rt: A64Register, offset: Int64)
    /// TBZ/TBNZ.
    case testBranch(nonZero: Bool, rt: A64Register, bit: UInt8, offset: Int64)
    /// BR.
    case branchRegister(rn: A64Register)
    /// BLR.
    case branchLinkRegister(rn: A64Register)
    /// RET.
    case ret(rn: A64Register)
    /// ERET.
    case eret

    // MARK: Exception generation and system

    /// SVC #imm16.
    case svc(UInt16)
    /// HVC #imm16.
    case hvc(UInt16)
    /// SMC #imm16.
    case smc(UInt16)
    /// BRK #imm16.
    case brk(UInt16)
    /// UDF #imm16: permanently undefined.
    case udf(UInt16)
    /// WFI.
    case wfi
    /// WFE.
    case wfe
    /// NOP, YIELD, SEV, SEVL and every other hint (unallocated hints execute as
    /// NOP architecturally, which is also how PACIASP/AUTIASP/BTI behave on a core
    /// without those features); the payload is `CRm:op2`.
    case hint(UInt8)
    /// DSB/DMB/ISB/SB.
    case barrier(A64Barrier)
    /// CLREX.
    case clrex
    /// MRS Xt, <sysreg>.
    case mrs(rt: A64Register, register: A64SystemRegister)
    /// MSR <sysreg>, Xt.
    case msr(register: A64SystemRegister, rt: A64Register)
    /// MSR DAIFSet/DAIFClr/SPSel, #imm.
    case msrImmediate(field: A64PStateField, imm: UInt8)
    /// A cache-maintenance (DC/IC, CRn = 7) or TLB-invalidate (TLBI, CRn = 8)
    /// system instruction; with no caches or TLBs modelled these have no effect.
    case cacheMaintenance(op1: UInt8, crn: UInt8, crm: UInt8, op2: UInt8, rt: A64Register)

    /// An encoding this interpreter does not implement.
    case unsupported(UInt32)

    /// Decodes one instruction word.
    public init(_ word: UInt32) {
        self = A64Decoder.decode(word)
    }
}
