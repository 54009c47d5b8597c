// Synchronous exceptions taken to EL1, exception return, and injection.

/// Exception classes (ESR_ELx.EC) the interpreter raises.
public enum A64ExceptionClass: UInt64, Sendable {
    case unknown = 0x00
    case svc = 0x15
    case instructionAbortLowerEL = 0x20
    case instructionAbortSameEL = 0x21
    case dataAbortLowerEL = 0x24
    case dataAbortSameEL = 0x25
    case brk = 0x3C
}

extension A64CPU {
    /// Fault status code for a synchronous external abort, which is what KVM
    /// injects for an access it cannot resolve (and what a bus error is).
    static let externalAbortStatus: UInt64 = 0x10

    /// Takes a synchronous exception to EL1 (the ARM ARM's `AArch64.TakeException`).
    ///
    /// The vector is VBAR_EL1 plus 0x000 from EL1 on SP_EL0, 0x200 from EL1 on
    /// SP_EL1, or 0x400 from EL0; the synchronous entry is at offset 0 within
    /// each. PSTATE is saved to SPSR_EL1, the return address to ELR_EL1, then
    /// the CPU enters EL1h with D, A, I and F masked. ESR_EL1.IL is set because
    /// every A64 instruction is 32 bits.
    func takeException(_ exceptionClass: A64ExceptionClass, iss: UInt64, returnAddress: UInt64, faultAddress: UInt64? = nil) {
        let offset: UInt64 = exceptionLevel == 0 ? 0x400 : (spSel ? 0x200 : 0)
        system.spsrEL1 = pstate
        system.elrEL1 = returnAddress
        system.esrEL1 = exceptionClass.rawValue << 26 | 1 << 25 | (iss & 0x1FF_FFFF)
        if let faultAddress { system.farEL1 = faultAddress }
        setMode(el: 1, spSel: true)
        daif = 0x3C0
        // Whether entry clears the local monitor is IMPLEMENTATION DEFINED;
        // clearing it makes a handler that interrupts LDXR/STXR force a retry.
        exclusiveAddress = nil
        pc = system.vbarEL1 &+ offset
    }

    /// An UNDEFINED instruction at the current PC: EC 0 to the guest's vector
    /// table, or a stop if it has none.
    func undefinedInstruction(_ word: UInt32) -> A64Stop? {
        guard hasVectorTable else { return .undefined(word: word, pc: pc) }
        takeException(.unknown, iss: 0, returnAddress: pc)
        return nil
    }

    /// ERET: restore PSTATE from SPSR_EL1 and branch to ELR_EL1. ERET also
    /// clears the local exclusive monitor, as the architecture requires.
    func exceptionReturn(word: UInt32) -> A64Stop? {
        guard exceptionLevel == 1 else { return undefinedInstruction(word) }
        let spsr = system.spsrEL1
        // SPSR.M[4] = 1 would be AArch32, and EL2/EL3 do not exist here: an
        // illegal return, which the embedder should see rather than the guest
        // continuing in a mode the interpreter cannot model.
        guard Self.isValidMode(spsr & 0x1F) else { return .illegalExceptionReturn(spsr: spsr, pc: pc) }
        pstate = spsr & (0xF000_0000 | 0x3C0 | 0x1F)
        exclusiveAddress = nil
        pc = system.elrEL1
        return nil
    }

    /// Delivers a synchronous data abort for the instruction at PC, as a
    /// hypervisor does for an access it will not emulate: ESR_EL1 gets EC 0x25
    /// (from EL1) or 0x24 (from EL0) with an external-abort status, FAR_EL1 the
    /// address, and ELR_EL1 the faulting instruction. Any pending MMIO access
    /// is abandoned.
    ///
    /// - Throws: ``A64CPUError/noVectorTable(exception:)`` if VBAR_EL1 is 0.
    public func injectDataAbort(address: UInt64, isWrite: Bool = false) throws(A64CPUError) {
        guard hasVectorTable else { throw .noVectorTable(exception: "a data abort at \(hex(address))") }
        pendingMMIO = nil
        let ec: A64ExceptionClass = exceptionLevel == 0 ? .dataAbortLowerEL : .dataAbortSameEL
        // ISS.WnR (bit 6) says whether the abort was on a write.
        let iss = (isWrite ? 1 << 6 : 0) | Self.externalAbortStatus
        takeException(ec, iss: iss, returnAddress: pc, faultAddress: address)
    }

    /// Delivers a synchronous instruction abort for a fetch from `address`
    /// (EC 0x21 from EL1, 0x20 from EL0), e.g. after a ``A64Stop/busFault(address:pc:access:)`` on a fetch.
    ///
    /// - Throws: ``A64CPUError/noVectorTable(exception:)`` if VBAR_EL1 is 0.
    public func injectInstructionAbort(address: UInt64) throws(A64CPUError) {
        guard hasVectorTable else { throw .noVectorTable(exception: "an instruction abort at \(hex(address))") }
        pendingMMIO = nil
        let ec: A64ExceptionClass = exceptionLevel == 0 ? .instructionAbortLowerEL : .instructionAbortSameEL
        takeException(ec, iss: Self.externalAbortStatus, returnAddress: pc, faultAddress: address)
    }

    /// Delivers an Undefined Instruction exception (EC 0) for the instruction
    /// at PC, e.g. after an ``A64Stop/unsupported(word:pc:)`` stop that the
    /// embedder decides the guest should see as UNDEFINED.
    ///
    /// - Throws: ``A64CPUError/noVectorTable(exception:)`` if VBAR_EL1 is 0.
    public func injectUndefined() throws(A64CPUError) {
        guard hasVectorTable else { throw .noVectorTable(exception: "an undefined-instruction exception") }
        pendingMMIO = nil
        takeException(.unknown, iss: 0, returnAddress: pc)
    }
}
