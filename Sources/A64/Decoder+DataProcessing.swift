// Data processing — immediate and register groups.

extension A64Decoder {
    static func decodeDataProcessingImmediate(_ word: UInt32) -> A64Instruction {
        let is64 = word.bit(31)
        let rd = word.field(0, 5)
        let rn = word.field(5, 5)
        switch word.field(23, 3) {
        case 0b000, 0b001:
            let imm = word.field(29, 2) | word.field(5, 19) << 2
            let offset = signExtend(imm, bits: 21)
            if word.bit(31) { return .adrp(rd: .zrOr(rd), offset: offset << 12) }
            return .adr(rd: .zrOr(rd), offset: offset)
        case 0b010:
            let subtract = word.bit(30)
            let setFlags = word.bit(29)
            let imm12 = word.field(10, 12)
            let imm = word.bit(22) ? imm12 << 12 : imm12
            // The non-flag-setting forms write SP (so `MOV SP, X0` is ADD);
            // the flag-setting ones write XZR (so CMP is SUBS XZR).
            let dest: A64Register = setFlags ? .zrOr(rd) : .spOr(rd)
            return .addSubImmediate(is64: is64, subtract: subtract, setFlags: setFlags, rd: dest, rn: .spOr(rn), imm: imm)
        case 0b100:
            let n = word.field(22, 1)
            if !is64 && n == 1 { return .unsupported(word) }
            guard let imm = A64Bitmask.decode(n: n, imms: word.field(10, 6), immr: word.field(16, 6), is64: is64) else {
                return .unsupported(word)
            }
            let op = A64LogicalOp(rawValue: UInt8(word.field(29, 2)))!
            // ANDS sets flags and so writes XZR (TST); the others may write SP.
            let dest: A64Register = op == .ands ? .zrOr(rd) : .spOr(rd)
            return .logicalImmediate(is64: is64, op: op, rd: dest, rn: .zrOr(rn), imm: imm)
        case 0b101:
            let hw = word.field(21, 2)
            if !is64 && hw >= 2 { return .unsupported(word) }
            let op: A64MoveWideOp
            switch word.field(29, 2) {
            case 0b00: op = .movn
            case 0b10: op = .movz
            case 0b11: op = .movk
            default: return .unsupported(word)
            }
            return .moveWide(is64: is64, op: op, rd: .zrOr(rd), imm16: UInt16(word.field(5, 16)), shift: UInt8(hw * 16))
        case 0b110:
            let opc = word.field(29, 2)
            let n = word.bit(22)
            let immr = word.field(16, 6)
            let imms = word.field(10, 6)
            guard opc != 0b11, n == is64 else { return .unsupported(word) }
            if !is64 && (immr >= 32 || imms >= 32) { return .unsupported(word) }
            let op = A64BitfieldOp(rawValue: UInt8(opc))!
            return .bitfield(is64: is64, op: op, rd: .zrOr(rd), rn: .zrOr(rn), immr: UInt8(immr), imms: UInt8(imms))
        case 0b111:
            let imms = word.field(10, 6)
            guard word.field(29, 2) == 0, word.bit(22) == is64, !word.bit(21) else { return .unsupported(word) }
            if !is64 && imms >= 32 { return .unsupported(word) }
            return .extract(is64: is64, rd: .zrOr(rd), rn: .zrOr(rn), rm: .zrOr(word.field(16, 5)), lsb: UInt8(imms))
        default:
            // 0b011: add/subtract immediate with tags (MTE).
            return .unsupported(word)
        }
    }

    static func decodeDataProcessingRegister(_ word: UInt32) -> A64Instruction {
        let is64 = word.bit(31)
        let rd = A64Register.zrOr(word.field(0, 5))
        let rn = A64Register.zrOr(word.field(5, 5))
        let rm = A64Register.zrOr(word.field(16, 5))
        let imm6 = word.field(10, 6)
        if !word.bit(28) {
            if !word.bit(24) {
                if !is64 && imm6 >= 32 { return .unsupported(word) }
                let op = A64LogicalOp(rawValue: UInt8(word.field(29, 2)))!
                let shift = A64Shift(rawValue: UInt8(word.field(22, 2)))!
                return .logicalShifted(is64: is64, op: op, invert: word.bit(21), rd: rd, rn: rn, rm: rm, shift: shift, amount: UInt8(imm6))
            }
            let subtract = word.bit(30)
            let setFlags = word.bit(29)
            if !word.bit(21) {
                let shift = A64Shift(rawValue: UInt8(word.field(22, 2)))!
                if shift == .ror || (!is64 && imm6 >= 32) { return .unsupported(word) }
                return .addSubShifted(is64: is64, subtract: subtract, setFlags: setFlags, rd: rd, rn: rn, rm: rm, shift: shift, amount: UInt8(imm6))
            }
            let amount = word.field(10, 3)
            guard word.field(22, 2) == 0, amount <= 4 else { return .unsupported(word) }
            // The extended form is the one that can address SP (ADD X0, SP, X1).
            let dest: A64Register = setFlags ? rd : .spOr(word.field(0, 5))
            let extend = A64Extend(rawValue: UInt8(word.field(13, 3)))!
            return .addSubExtended(is64: is64, subtract: subtract, setFlags: setFlags, rd: dest, rn: .spOr(word.field(5, 5)), rm: rm, extend: extend, amount: UInt8(amount))
        }
        switch word.field(21, 4) {
        case 0b0000:
            guard word.field(10, 6) == 0 else { return .unsupported(word) }
            return .addSubCarry(is64: is64, subtract: word.bit(30), setFlags: word.bit(29), rd: rd, rn: rn, rm: rm)
        case 0b0010:
            guard word.bit(29), !word.bit(10), !word.bit(4) else { return .unsupported(word) }
            let cond = A64Condition(rawValue: UInt8(word.field(12, 4)))!
            let nzcv = UInt8(word.field(0, 4))
            let negate = !word.bit(30)
            if word.bit(11) {
                return .conditionalCompareImmediate(is64: is64, negate: negate, rn: rn, imm: UInt8(word.field(16, 5)), nzcv: nzcv, cond: cond)
            }
            return .conditionalCompareRegister(is64: is64, negate: negate, rn: rn, rm: rm, nzcv: nzcv, cond: cond)
        case 0b0100:
            let op2 = word.field(10, 2)
            guard !word.bit(29), op2 <= 1 else { return .unsupported(word) }
            let op = A64SelectOp(rawValue: UInt8(word.field(30, 1) << 1 | op2))!
            let cond = A64Condition(rawValue: UInt8(word.field(12, 4)))!
            return .conditionalSelect(is64: is64, op: op, rd: rd, rn: rn, rm: rm, cond: cond)
        case 0b0110:
            guard !word.bit(29) else { return .unsupported(word) }
            return word.bit(30) ? decodeOneSource(word, is64: is64, rd: rd, rn: rn) : decodeTwoSource(word, is64: is64, rd: rd, rn: rn, rm: rm)
        case 0b1000...0b1111:
            return decodeThreeSource(word, is64: is64, rd: rd, rn: rn, rm: rm)
        default:
            return .unsupported(word)
        }
    }

    private static func decodeTwoSource(_ word: UInt32, is64: Bool, rd: A64Register, rn: A64Register, rm: A64Register) -> A64Instruction {
        switch word.field(10, 6) {
        case 0b000010: return .divide(is64: is64, signed: false, rd: rd, rn: rn, rm: rm)
        case 0b000011: return .divide(is64: is64, signed: true, rd: rd, rn: rn, rm: rm)
        case 0b001000: return .shiftVariable(is64: is64, shift: .lsl, rd: rd, rn: rn, rm: rm)
        case 0b001001: return .shiftVariable(is64: is64, shift: .lsr, rd: rd, rn: rn, rm: rm)
        case 0b001010: return .shiftVariable(is64: is64, shift: .asr, rd: rd, rn: rn, rm: rm)
        case 0b001011: return .shiftVariable(is64: is64, shift: .ror, rd: rd, rn: rn, rm: rm)
        default: return .unsupported(word)  // CRC32*, PAC, MTE
        }
    }

    private static func decodeOneSource(_ word: UInt32, is64: Bool, rd: A64Register, rn: A64Register) -> A64Instruction {
        guard word.field(16, 5) == 0 else { return .unsupported(word) }
        let op: A64BitOp
        switch word.field(10, 6) {
        case 0b000000: op = .rbit
        case 0b000001: op = .rev16
        // opcode 2 is REV32 for X and plain REV for W: both reverse bytes within
        // each 32-bit word.
        case 0b000010: op = is64 ? .rev32 : .rev
        case 0b000011:
            guard is64 else { return .unsupported(word) }
            op = .rev
        case 0b000100: op = .clz
        case 0b000101: op = .cls
        default: return .unsupported(word)
        }
        return .bitOperation(is64: is64, op: op, rd: rd, rn: rn)
    }

    private static func decodeThreeSource(_ word: UInt32, is64: Bool, rd: A64Register, rn: A64Register, rm: A64Register) -> A64Instruction {
        guard word.field(29, 2) == 0 else { return .unsupported(word) }
        let ra = A64Register.zrOr(word.field(10, 5))
        let o0 = word.bit(15)
        switch word.field(21, 3) {
        case 0b000:
            return .multiplyAdd(is64: is64, subtract: o0, rd: rd, rn: rn, rm: rm, ra: ra)
        case 0b001 where is64:
            return .multiplyAddLong(signed: true, subtract: o0, rd: rd, rn: rn, rm: rm, ra: ra)
        case 0b101 where is64:
            return .multiplyAddLong(signed: false, subtract: o0, rd: rd, rn: rn, rm: rm, ra: ra)
        case 0b010 where is64 && !o0:
            return .multiplyHigh(signed: true, rd: rd, rn: rn, rm: rm)
        case 0b110 where is64 && !o0:
            return .multiplyHigh(signed: false, rd: rd, rn: rn, rm: rm)
        default:
            return .unsupported(word)
        }
    }
}
