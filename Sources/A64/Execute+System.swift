// Exception-generating instructions and system-register access.

extension A64CPU {
    /// SCTLR_EL1.UMA: lets EL0 use MSR/MRS on DAIF.
    static let sctlrUMA: UInt64 = 1 << 9
    /// SCTLR_EL1.M: stage 1 translation enable.
    static let sctlrM: UInt64 = 1 << 0

    func supervisorCall(_ imm: UInt16) -> A64Stop? {
        // The preferred return address of SVC is the next instruction.
        let next = pc &+ 4
        guard hasVectorTable else {
            pc = next
            return .svc(imm)
        }
        takeException(.svc, iss: UInt64(imm), returnAddress: next)
        return nil
    }

    func breakpoint(_ imm: UInt16) -> A64Stop? {
        // BRK returns to itself: a debugger decides whether to step over it.
        guard hasVectorTable else { return .brk(imm) }
        takeException(.brk, iss: UInt64(imm), returnAddress: pc)
        return nil
    }

    /// HVC and SMC are UNDEFINED at EL0; from EL1 they trap to the embedder.
    func hypervisorCall(_ stop: A64Stop, word: UInt32) -> A64Stop? {
        guard exceptionLevel == 1 else { return undefinedInstruction(word) }
        pc &+= 4
        return stop
    }

    func moveFromSystemRegister(_ register: A64SystemRegister, rt: A64Register, word: UInt32) -> A64Stop? {
        let value: UInt64
        switch register {
        case .nzcv:
            value = nzcv
        case .daif:
            guard exceptionLevel == 1 || system.sctlrEL1 & Self.sctlrUMA != 0 else { return undefinedInstruction(word) }
            value = daif
        case .currentEL:
            guard exceptionLevel == 1 else { return undefinedInstruction(word) }
            value = UInt64(exceptionLevel) << 2
        case .spSel:
            guard exceptionLevel == 1 else { return undefinedInstruction(word) }
            value = spSel ? 1 : 0
        case .spEL0:
            // SP_EL0 is only accessible by name while it is not the current SP.
            guard exceptionLevel == 1, spSel else { return undefinedInstruction(word) }
            value = savedSPEL0
        default:
            switch system.read(register, el: exceptionLevel, instructionsRetired: instructionsRetired) {
            case .value(let v): value = v
            case .undefined: return undefinedInstruction(word)
            case .unsupported: return .unsupported(word: word, pc: pc)
            }
        }
        write(rt, value)
        pc &+= 4
        return nil
    }

    func moveToSystemRegister(_ register: A64SystemRegister, rt: A64Register, word: UInt32) -> A64Stop? {
        let value = read(rt)
        switch register {
        case .nzcv:
            nzcv = value & 0xF000_0000
        case .daif:
            guard exceptionLevel == 1 || system.sctlrEL1 & Self.sctlrUMA != 0 else { return undefinedInstruction(word) }
            daif = value & 0x3C0
        case .spSel:
            guard exceptionLevel == 1 else { return undefinedInstruction(word) }
            setMode(el: 1, spSel: value & 1 == 1)
        case .spEL0:
            guard exceptionLevel == 1, spSel else { return undefinedInstruction(word) }
            savedSPEL0 = value
        case .currentEL:
            return undefinedInstruction(word)
        case .sctlrEL1 where value & Self.sctlrM != 0 && exceptionLevel == 1:
            // Continuing with translation silently off would run the guest on
            // the wrong addresses; stop before the write instead.
            return .mmuEnabled(pc: pc)
        default:
            switch system.write(register, value: value, el: exceptionLevel) {
            case .value: break
            case .undefined: return undefinedInstruction(word)
            case .unsupported: return .unsupported(word: word, pc: pc)
            }
        }
        pc &+= 4
        return nil
    }

    func moveImmediateToPState(_ field: A64PStateField, imm: UInt8, word: UInt32) -> A64Stop? {
        switch field {
        case .daifSet, .daifClear:
            guard exceptionLevel == 1 || system.sctlrEL1 & Self.sctlrUMA != 0 else { return undefinedInstruction(word) }
            let bits = UInt64(imm & 0xF) << 6
            daif = field == .daifSet ? daif | bits : daif & ~bits
        case .spSel:
            guard exceptionLevel == 1 else { return undefinedInstruction(word) }
            setMode(el: 1, spSel: imm & 1 == 1)
        }
        pc &+= 4
        return nil
    }
}
