// Data processing (immediate and register): no memory, no exceptions.

extension A64CPU {
    // MARK: Operand shaping

    /// The shifted-register operand: LSL/LSR/ASR/ROR within the operation's width.
    @inline(__always)
    func shifted(_ value: UInt64, _ shift: A64Shift, _ amount: UInt8, is64: Bool) -> UInt64 {
        let a = UInt64(amount)
        if is64 {
            switch shift {
            case .lsl: return value << a
            case .lsr: return value >> a
            case .asr: return UInt64(bitPattern: Int64(bitPattern: value) >> Int64(a))
            case .ror: return a == 0 ? value : value >> a | value << (64 - a)
            }
        }
        let v = value & 0xFFFF_FFFF
        switch shift {
        case .lsl: return (v << a) & 0xFFFF_FFFF
        case .lsr: return v >> a
        case .asr: return UInt64(UInt32(bitPattern: Int32(truncatingIfNeeded: v) >> Int32(a)))
        case .ror: return a == 0 ? v : (v >> a | v << (32 - a)) & 0xFFFF_FFFF
        }
    }

    /// The extended-register operand: zero- or sign-extend the low byte, half,
    /// word or doubleword, then shift left by 0–4.
    @inline(__always)
    func extended(_ value: UInt64, _ extend: A64Extend, _ shift: UInt8) -> UInt64 {
        let v: UInt64
        switch extend {
        case .uxtb: v = value & 0xFF
        case .uxth: v = value & 0xFFFF
        case .uxtw: v = value & 0xFFFF_FFFF
        case .uxtx: v = value
        case .sxtb: v = UInt64(bitPattern: Int64(Int8(truncatingIfNeeded: value)))
        case .sxth: v = UInt64(bitPattern: Int64(Int16(truncatingIfNeeded: value)))
        case .sxtw: v = UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: value)))
        case .sxtx: v = value
        }
        return v << UInt64(shift)
    }

    // MARK: Arithmetic and logic

    @inline(__always)
    func addSub(is64: Bool, subtract: Bool, setFlags: Bool, rd: A64Register, x: UInt64, y: UInt64) {
        // SUB is ADD of the complement with a carry-in of 1 (ARM ARM AddWithCarry).
        let result = subtract
            ? addWithCarry(x, ~y, carry: 1, is64: is64, setFlags: setFlags)
            : addWithCarry(x, y, carry: 0, is64: is64, setFlags: setFlags)
        write(rd, result, is64: is64)
    }

    @inline(__always)
    func logical(is64: Bool, op: A64LogicalOp, rd: A64Register, x: UInt64, y: UInt64) {
        let result: UInt64
        switch op {
        case .and, .ands: result = x & y
        case .orr: result = x | y
        case .eor: result = x ^ y
        }
        if op == .ands { setLogicalFlags(result, is64: is64) }
        write(rd, result, is64: is64)
    }

    func moveWide(is64: Bool, op: A64MoveWideOp, rd: A64Register, imm16: UInt16, shift: UInt8) {
        let placed = UInt64(imm16) << UInt64(shift)
        switch op {
        case .movz: write(rd, placed, is64: is64)
        case .movn: write(rd, ~placed, is64: is64)
        case .movk:
            let kept = read(rd) & ~(UInt64(0xFFFF) << UInt64(shift))
            write(rd, kept | placed, is64: is64)
        }
    }

    /// SBFM/BFM/UBFM in the two shapes the ARM ARM's wmask/tmask computation
    /// reduces to: imms >= immr extracts bits imms:immr to the bottom (UBFX,
    /// SBFX, BFXIL, LSR, ASR, extends); imms < immr moves bits imms:0 up to
    /// position datasize − immr (LSL, UBFIZ, SBFIZ, BFI).
    func bitfield(is64: Bool, op: A64BitfieldOp, rd: A64Register, rn: A64Register, immr: UInt8, imms: UInt8) {
        let size = is64 ? 64 : 32
        let source = read(rn, is64: is64)
        let r = Int(immr)
        let s = Int(imms)
        let width: Int
        let lsb: Int
        let field: UInt64
        if s >= r {
            width = s - r + 1
            lsb = 0
            field = (source >> UInt64(r)) & ones(width)
        } else {
            width = s + 1
            lsb = size - r
            field = source & ones(width)
        }
        let result: UInt64
        switch op {
        case .ubfm:
            result = field << UInt64(lsb)
        case .sbfm:
            result = UInt64(bitPattern: signExtend(field, bits: width)) << UInt64(lsb)
        case .bfm:
            let mask = ones(width) << UInt64(lsb)
            result = (read(rd) & ~mask) | (field << UInt64(lsb))
        }
        write(rd, result, is64: is64)
    }

    func extract(is64: Bool, rd: A64Register, rn: A64Register, rm: A64Register, lsb: UInt8) {
        let low = read(rm, is64: is64)
        let high = read(rn, is64: is64)
        let l = UInt64(lsb)
        guard l != 0 else { return write(rd, low, is64: is64) }
        let size: UInt64 = is64 ? 64 : 32
        write(rd, low >> l | high << (size - l), is64: is64)
    }

    func conditionalSelect(is64: Bool, op: A64SelectOp, rd: A64Register, rn: A64Register, rm: A64Register, cond: A64Condition) {
        if conditionHolds(cond) { return write(rd, read(rn), is64: is64) }
        let value = read(rm)
        switch op {
        case .csel: write(rd, value, is64: is64)
        case .csinc: write(rd, value &+ 1, is64: is64)
        case .csinv: write(rd, ~value, is64: is64)
        case .csneg: write(rd, 0 &- value, is64: is64)
        }
    }

    /// CCMP/CCMN: the comparison's flags if the condition holds, else the
    /// literal NZCV from the instruction.
    func conditionalCompare(is64: Bool, negate: Bool, x: UInt64, y: UInt64, nzcv literal: UInt8, cond: A64Condition) {
        guard conditionHolds(cond) else {
            nzcv = UInt64(literal) << 28
            return
        }
        if negate {
            _ = addWithCarry(x, y, carry: 0, is64: is64, setFlags: true)
        } else {
            _ = addWithCarry(x, ~y, carry: 1, is64: is64, setFlags: true)
        }
    }

    /// LSLV/LSRV/ASRV/RORV shift by Rm modulo the data size.
    func shiftVariable(is64: Bool, shift: A64Shift, rd: A64Register, rn: A64Register, rm: A64Register) {
        let amount = UInt8(read(rm) & (is64 ? 63 : 31))
        write(rd, shifted(read(rn), shift, amount, is64: is64), is64: is64)
    }

    /// UDIV/SDIV: division by zero yields 0 rather than trapping, and the one
    /// signed overflow (INT_MIN / −1) yields INT_MIN; both round toward zero.
    func divide(is64: Bool, signed: Bool, rd: A64Register, rn: A64Register, rm: A64Register) {
        let divisor = read(rm, is64: is64)
        guard divisor != 0 else { return write(rd, 0) }
        let dividend = read(rn, is64: is64)
        if !signed { return write(rd, dividend / divisor) }
        if is64 {
            let q = Int64(bitPattern: dividend).dividedReportingOverflow(by: Int64(bitPattern: divisor)).partialValue
            write(rd, UInt64(bitPattern: q))
        } else {
            let q = Int32(truncatingIfNeeded: dividend).dividedReportingOverflow(by: Int32(truncatingIfNeeded: divisor)).partialValue
            write(rd, UInt64(UInt32(bitPattern: q)))
        }
    }

    func multiplyAdd(is64: Bool, subtract: Bool, rd: A64Register, rn: A64Register, rm: A64Register, ra: A64Register) {
        // The low 32 bits of a 64-bit product equal the 32-bit product, so one
        // wrapping multiply serves both widths.
        let product = read(rn) &* read(rm)
        let accumulator = read(ra)
        write(rd, subtract ? accumulator &- product : accumulator &+ product, is64: is64)
    }

    func multiplyAddLong(signed: Bool, subtract: Bool, rd: A64Register, rn: A64Register, rm: A64Register, ra: A64Register) {
        let product: UInt64
        if signed {
            let a = Int64(Int32(truncatingIfNeeded: read(rn)))
            let b = Int64(Int32(truncatingIfNeeded: read(rm)))
            product = UInt64(bitPattern: a &* b)
        } else {
            product = (read(rn) & 0xFFFF_FFFF) &* (read(rm) & 0xFFFF_FFFF)
        }
        let accumulator = read(ra)
        write(rd, subtract ? accumulator &- product : accumulator &+ product)
    }

    func multiplyHigh(signed: Bool, rd: A64Register, rn: A64Register, rm: A64Register) {
        if signed {
            let high = Int64(bitPattern: read(rn)).multipliedFullWidth(by: Int64(bitPattern: read(rm))).high
            write(rd, UInt64(bitPattern: high))
        } else {
            write(rd, read(rn).multipliedFullWidth(by: read(rm)).high)
        }
    }

    func bitOperation(is64: Bool, op: A64BitOp, rd: A64Register, rn: A64Register) {
        let value = read(rn, is64: is64)
        let result: UInt64
        switch op {
        case .rbit:
            let reversed = Self.reverseBits(value)
            result = is64 ? reversed : reversed >> 32
        case .rev:
            result = is64 ? value.byteSwapped : UInt64(UInt32(truncatingIfNeeded: value).byteSwapped)
        case .rev16:
            result = (value & 0x00FF_00FF_00FF_00FF) << 8 | (value >> 8) & 0x00FF_00FF_00FF_00FF
        case .rev32:
            let low = UInt64(UInt32(truncatingIfNeeded: value).byteSwapped)
            let high = UInt64(UInt32(truncatingIfNeeded: value >> 32).byteSwapped)
            result = high << 32 | low
        case .clz:
            result = UInt64(value.leadingZeroBitCount - (is64 ? 0 : 32))
        case .cls:
            // CountLeadingSignBits: leading zeros of x<N-1:1> EOR x<N-2:0>, an
            // (N-1)-bit value, i.e. how many bits below the sign bit repeat it.
            let size = is64 ? 64 : 32
            let e = (value >> 1) ^ (value & ones(size - 1))
            result = UInt64(e.leadingZeroBitCount - (65 - size))
        }
        write(rd, result, is64: is64)
    }

    static func reverseBits(_ value: UInt64) -> UInt64 {
        var v = value
        v = (v >> 1) & 0x5555_5555_5555_5555 | (v & 0x5555_5555_5555_5555) << 1
        v = (v >> 2) & 0x3333_3333_3333_3333 | (v & 0x3333_3333_3333_3333) << 2
        v = (v >> 4) & 0x0F0F_0F0F_0F0F_0F0F | (v & 0x0F0F_0F0F_0F0F_0F0F) << 4
        return v.byteSwapped
    }
}
