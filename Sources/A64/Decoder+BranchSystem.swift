// Branches, exception generation and system instructions.

extension A64Decoder {
    static func decodeBranchSystem(_ word: UInt32) -> A64Instruction {
        switch word.field(29, 3) {
        case 0b000, 0b100:
            let offset = signExtend(word.field(0, 26), bits: 26) << 2
            return word.bit(31) ? .branchLink(offset: offset) : .branch(offset: offset)
        case 0b001, 0b101:
            let rt = A64Register.zrOr(word.field(0, 5))
            let nonZero = word.bit(24)
            if word.bit(25) {
                let bit = UInt8(word.field(31, 1) << 5 | word.field(19, 5))
                let offset = signExtend(word.field(5, 14), bits: 14) << 2
                return .testBranch(nonZero: nonZero, rt: rt, bit: bit, offset: offset)
            }
            let offset = signExtend(word.field(5, 19), bits: 19) << 2
            return .compareBranch(is64: word.bit(31), nonZero: nonZero, rt: rt, offset: offset)
        case 0b010:
            // Bit 4 set is BC.cond (FEAT_HBC).
            guard !word.bit(25), !word.bit(24), !word.bit(4) else { return .unsupported(word) }
            let cond = A64Condition(rawValue: UInt8(word.field(0, 4)))!
            return .branchConditional(cond: cond, offset: signExtend(word.field(5, 19), bits: 19) << 2)
        case 0b110:
            if word.bit(25) { return decodeBranchRegister(word) }
            if !word.bit(24) { return decodeExceptionGeneration(word) }
            if word.field(22, 3) == 0b100 { return decodeSystem(word) }
            return .unsupported(word)
        default:
            return .unsupported(word)
        }
    }

    private static func decodeExceptionGeneration(_ word: UInt32) -> A64Instruction {
        guard word.field(2, 3) == 0 else { return .unsupported(word) }
        let imm16 = UInt16(word.field(5, 16))
        switch (word.field(21, 3), word.field(0, 2)) {
        case (0b000, 0b01): return .svc(imm16)
        case (0b000, 0b10): return .hvc(imm16)
        case (0b000, 0b11): return .smc(imm16)
        case (0b001, 0b00): return .brk(imm16)
        default: return .unsupported(word)  // HLT, DCPS*, TCANCEL
        }
    }

    private static func decodeBranchRegister(_ word: UInt32) -> A64Instruction {
        // op2 = 11111, op3 = 0 and op4 = 0 outside the pointer-authentication forms.
        guard word.field(16, 5) == 0b11111, word.field(10, 6) == 0, word.field(0, 5) == 0 else {
            return .unsupported(word)
        }
        let rn = A64Register.zrOr(word.field(5, 5))
        switch word.field(21, 4) {
        case 0b0000: return .branchRegister(rn: rn)
        case 0b0001: return .branchLinkRegister(rn: rn)
        case 0b0010: return .ret(rn: rn)
        case 0b0100 where word.field(5, 5) == 0b11111: return .eret
        default: return .unsupported(word)  // DRPS and reserved
        }
    }

    private static func decodeSystem(_ word: UInt32) -> A64Instruction {
        let isRead = word.bit(21)
        let op0 = word.field(19, 2)
        let op1 = word.field(16, 3)
        let crn = word.field(12, 4)
        let crm = word.field(8, 4)
        let op2 = word.field(5, 3)
        let rtField = word.field(0, 5)
        let rt = A64Register.zrOr(rtField)
        switch op0 {
        case 0b00:
            guard !isRead else { return .unsupported(word) }
            if crn == 0b0100 { return decodePStateWrite(word, op1: op1, op2: op2, imm: crm) }
            guard op1 == 0b011, rtField == 0b11111 else { return .unsupported(word) }
            if crn == 0b0010 { return decodeHint(crm << 3 | op2) }
            guard crn == 0b0011 else { return .unsupported(word) }
            switch op2 {
            case 0b010: return .clrex
            case 0b100: return .barrier(.dsb)
            case 0b101: return .barrier(.dmb)
            case 0b110: return .barrier(.isb)
            case 0b111 where crm == 0: return .barrier(.sb)
            default: return .unsupported(word)
            }
        case 0b01:
            // Cache maintenance (CRn 7) and TLB invalidation (CRn 8) have no
            // effect without caches or an MMU. AT (CRn 7, CRm 8/9) would need
            // translation, and DC ZVA (op1 3, CRm 4, op2 1) writes memory, so
            // those stay unsupported rather than silently doing nothing.
            guard !isRead else { return .unsupported(word) }
            let isAddressTranslation = crn == 7 && (crm == 8 || crm == 9)
            let isZeroByVA = crn == 7 && op1 == 3 && crm == 4 && op2 == 1
            guard crn == 7 || crn == 8, !isAddressTranslation, !isZeroByVA else { return .unsupported(word) }
            return .cacheMaintenance(op1: UInt8(op1), crn: UInt8(crn), crm: UInt8(crm), op2: UInt8(op2), rt: rt)
        default:
            let register = A64SystemRegister(rawValue: UInt16(word.field(5, 16)))
            return isRead ? .mrs(rt: rt, register: register) : .msr(register: register, rt: rt)
        }
    }

    private static func decodeHint(_ selector: UInt32) -> A64Instruction {
        switch selector {
        case 0b0000_010: return .wfe
        case 0b0000_011: return .wfi
        default: return .hint(UInt8(selector))
        }
    }

    private static func decodePStateWrite(_ word: UInt32, op1: UInt32, op2: UInt32, imm: UInt32) -> A64Instruction {
        guard word.field(0, 5) == 0b11111 else { return .unsupported(word) }
        switch (op1, op2) {
        case (0b011, 0b110): return .msrImmediate(field: .daifSet, imm: UInt8(imm))
        case (0b011, 0b111): return .msrImmediate(field: .daifClear, imm: UInt8(imm))
        case (0b000, 0b101): return .msrImmediate(field: .spSel, imm: UInt8(imm))
        default: return .unsupported(word)  // PAN, UAO, DIT, SSBS, TCO, …
        }
    }
}
