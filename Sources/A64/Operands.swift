// Operand types shared by the decoder and the executor.

/// A general-purpose register operand with register number 31 already resolved.
///
/// A64 encodes both the zero register and the stack pointer as register 31; which
/// one an instruction means depends on the encoding and even on the operand
/// position (`ADD X0, SP, #1` versus `ADDS XZR, X0, #1`). The decoder resolves it
/// once, so `index` is 0–30 for X0–X30, 31 for XZR and 32 for the current stack
/// pointer, and execution never has to know which encodings meant which.
public struct A64Register: Hashable, Sendable, CustomStringConvertible {
    /// 0–30: X0–X30; 31: XZR; 32: SP.
    public let index: UInt8

    /// Makes a register operand from an already-resolved index (0–32).
    public init(index: UInt8) {
        precondition(index <= 32, "A64 register index \(index) is outside 0...32")
        self.index = index
    }

    /// The zero register: reads as 0, writes are discarded.
    public static let zr = A64Register(index: 31)
    /// The stack pointer selected by the current exception level and SPSel.
    public static let sp = A64Register(index: 32)

    /// X30, which BL and BLR write.
    static let linkRegister = A64Register(unchecked: 30)

    /// General-purpose register Xn (n in 0...30).
    public static func x(_ n: Int) -> A64Register {
        precondition((0...30).contains(n), "X\(n) is not a general-purpose register")
        return A64Register(index: UInt8(n))
    }

    /// Resolves encoding field `number` where register 31 means XZR.
    @inline(__always)
    static func zrOr(_ number: UInt32) -> A64Register { A64Register(unchecked: UInt8(number & 31)) }

    /// Resolves encoding field `number` where register 31 means SP.
    @inline(__always)
    static func spOr(_ number: UInt32) -> A64Register {
        let n = UInt8(number & 31)
        return A64Register(unchecked: n == 31 ? 32 : n)
    }

    @inline(__always)
    init(unchecked index: UInt8) { self.index = index }

    public var description: String {
        switch index {
        case 31: "xzr"
        case 32: "sp"
        default: "x\(index)"
        }
    }
}

/// A condition code, numbered as in the `cond` field of the encoding.
public enum A64Condition: UInt8, Sendable, CaseIterable {
    case eq, ne, cs, cc, mi, pl, vs, vc, hi, ls, ge, lt, gt, le, al, nv
}

/// The shift applied to a register operand.
public enum A64Shift: UInt8, Sendable {
    case lsl, lsr, asr, ror
}

/// The extension applied to a register operand (the `option` field).
public enum A64Extend: UInt8, Sendable {
    case uxtb, uxth, uxtw, uxtx, sxtb, sxth, sxtw, sxtx
}

/// The operation of a logical instruction; the `invert` flag of the shifted-register
/// form turns AND/ORR/EOR/ANDS into BIC/ORN/EON/BICS.
public enum A64LogicalOp: UInt8, Sendable {
    case and, orr, eor, ands
}

/// MOVN, MOVZ or MOVK.
public enum A64MoveWideOp: UInt8, Sendable {
    case movn, movz, movk
}

/// The three bitfield-move base forms; LSL, LSR, ASR, UBFX, SBFX, BFI, BFXIL,
/// SXTB/H/W and UXTB/H are aliases of these and decode to them.
public enum A64BitfieldOp: UInt8, Sendable {
    case sbfm, bfm, ubfm
}

/// The conditional-select family.
public enum A64SelectOp: UInt8, Sendable {
    case csel, csinc, csinv, csneg
}

/// One-source bit operations.
public enum A64BitOp: UInt8, Sendable {
    case rbit, rev16, rev32, rev, clz, cls
}

/// What a load/store does with the register and how a load extends the value.
public enum A64MemoryOp: UInt8, Sendable {
    /// Store the low `size` bytes of the register.
    case store
    /// Load and zero-extend to 64 bits (a W load zero-extends too).
    case load
    /// Load, sign-extend to 32 bits and zero the upper half (LDRSB/LDRSH Wt).
    case loadSigned32
    /// Load and sign-extend to 64 bits (LDRSB/LDRSH/LDRSW Xt, LDPSW).
    case loadSigned64
}

/// How a load/store forms its address from the base register.
public enum A64AddressMode: Equatable, Sendable {
    /// `[Xn|SP, #offset]`: no writeback (scaled unsigned or unscaled signed).
    case offset(Int64)
    /// `[Xn|SP, #offset]!`: the base is updated before the access.
    case preIndex(Int64)
    /// `[Xn|SP], #offset`: the base is updated after the access.
    case postIndex(Int64)
    /// `[Xn|SP, Rm{, extend {#shift}}]`.
    case register(A64Register, A64Extend, shift: UInt8)
}

/// Barrier instructions; none has an effect on a single in-order interpreter.
public enum A64Barrier: UInt8, Sendable {
    case dsb, dmb, isb, sb
}

/// PSTATE fields writable with `MSR <field>, #imm`.
public enum A64PStateField: UInt8, Sendable {
    case daifSet, daifClear, spSel
}
