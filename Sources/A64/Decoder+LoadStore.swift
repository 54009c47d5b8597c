// Loads and stores (general-purpose registers only).

extension A64Decoder {
    static func decodeLoadStore(_ word: UInt32) -> A64Instruction {
        // V = 1 selects the SIMD/FP register file, which is not modelled.
        if word.bit(26) { return .unsupported(word) }
        switch word.field(28, 2) {
        case 0b00:
            return word.field(24, 6) == 0b001000 ? decodeExclusive(word) : .unsupported(word)
        case 0b01:
            return word.bit(24) ? .unsupported(word) : decodeLiteral(word)
        case 0b10:
            return decodePair(word)
        default:
            return decodeSingle(word)
        }
    }

    private static func decodeExclusive(_ word: UInt32) -> A64Instruction {
        let size = UInt8(word.field(30, 2))
        let isLoad = word.bit(22)
        let ordered = word.bit(15)
        let rt = A64Register.zrOr(word.field(0, 5))
        let rn = A64Register.spOr(word.field(5, 5))
        switch (word.bit(23), word.bit(21)) {
        case (false, false):
            if isLoad { return .loadExclusive(size: size, acquire: ordered, rt: rt, rn: rn) }
            return .storeExclusive(size: size, release: ordered, rs: .zrOr(word.field(16, 5)), rt: rt, rn: rn)
        case (true, false) where ordered:
            if isLoad { return .loadAcquire(size: size, rt: rt, rn: rn) }
            return .storeRelease(size: size, rt: rt, rn: rn)
        default:
            // Exclusive pairs, LDLAR/STLLR (FEAT_LOR) and CAS (FEAT_LSE).
            return .unsupported(word)
        }
    }

    private static func decodeLiteral(_ word: UInt32) -> A64Instruction {
        let rt = A64Register.zrOr(word.field(0, 5))
        let offset = signExtend(word.field(5, 19), bits: 19) << 2
        switch word.field(30, 2) {
        case 0b00: return .loadLiteral(op: .load, size: 2, rt: rt, offset: offset)
        case 0b01: return .loadLiteral(op: .load, size: 3, rt: rt, offset: offset)
        case 0b10: return .loadLiteral(op: .loadSigned64, size: 2, rt: rt, offset: offset)
        default: return .prefetch
        }
    }

    private static func decodePair(_ word: UInt32) -> A64Instruction {
        let isLoad = word.bit(22)
        let op: A64MemoryOp
        let size: UInt8
        switch word.field(30, 2) {
        case 0b00: (op, size) = (isLoad ? .load : .store, 2)
        case 0b01 where isLoad: (op, size) = (.loadSigned64, 2)
        case 0b10: (op, size) = (isLoad ? .load : .store, 3)
        default: return .unsupported(word)  // STGP (MTE) and the reserved opc
        }
        let offset = signExtend(word.field(15, 7), bits: 7) << Int64(size)
        let mode: A64AddressMode
        switch word.field(23, 2) {
        case 0b00:
            // LDNP/STNP only hint that the data is not reused; there is no LDNPSW.
            if op == .loadSigned64 { return .unsupported(word) }
            mode = .offset(offset)
        case 0b01: mode = .postIndex(offset)
        case 0b10: mode = .offset(offset)
        default: mode = .preIndex(offset)
        }
        return .loadStorePair(op: op, size: size, rt: .zrOr(word.field(0, 5)), rt2: .zrOr(word.field(10, 5)), rn: .spOr(word.field(5, 5)), mode: mode)
    }

    private static func decodeSingle(_ word: UInt32) -> A64Instruction {
        let size = UInt8(word.field(30, 2))
        let opc = word.field(22, 2)
        let rt = A64Register.zrOr(word.field(0, 5))
        let rn = A64Register.spOr(word.field(5, 5))
        // PRFM shares the encoding space of a 64-bit sign-extending load, which
        // cannot exist; only the offset forms allow it.
        let isPrefetch = size == 3 && opc == 0b10
        let op: A64MemoryOp
        switch opc {
        case 0b00: op = .store
        case 0b01: op = .load
        case 0b10:
            op = .loadSigned64
        default:
            guard size <= 1 else { return .unsupported(word) }
            op = .loadSigned32
        }
        if word.bit(24) {
            if isPrefetch { return .prefetch }
            let offset = Int64(word.field(10, 12)) << Int64(size)
            return .loadStore(op: op, size: size, rt: rt, rn: rn, mode: .offset(offset))
        }
        if word.bit(21) {
            guard word.field(10, 2) == 0b10 else { return .unsupported(word) }  // atomics, PAC loads
            let option = word.field(13, 3)
            // Only 32-bit (UXTW/SXTW) and 64-bit (LSL/SXTX) index registers exist.
            guard option & 0b010 != 0 else { return .unsupported(word) }
            if isPrefetch { return .prefetch }
            let shift: UInt8 = word.bit(12) ? size : 0
            let extend = A64Extend(rawValue: UInt8(option))!
            return .loadStore(op: op, size: size, rt: rt, rn: rn, mode: .register(.zrOr(word.field(16, 5)), extend, shift: shift))
        }
        let imm9 = signExtend(word.field(12, 9), bits: 9)
        switch word.field(10, 2) {
        case 0b00:
            if isPrefetch { return .prefetch }  // PRFUM
            return .loadStore(op: op, size: size, rt: rt, rn: rn, mode: .offset(imm9))
        case 0b01:
            if isPrefetch { return .unsupported(word) }
            return .loadStore(op: op, size: size, rt: rt, rn: rn, mode: .postIndex(imm9))
        case 0b10:
            // LDTR/STTR check EL0 permissions, which only differ from EL1's
            // through the MMU; with translation off they are plain accesses.
            if isPrefetch { return .unsupported(word) }
            return .loadStore(op: op, size: size, rt: rt, rn: rn, mode: .offset(imm9))
        default:
            if isPrefetch { return .unsupported(word) }
            return .loadStore(op: op, size: size, rt: rt, rn: rn, mode: .preIndex(imm9))
        }
    }
}
