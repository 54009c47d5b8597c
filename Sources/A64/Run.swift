// The fetch–decode–execute loop.

extension A64CPU {
    /// Runs until something needs the embedder or `maxInstructions` have executed.
    ///
    /// A stop leaves the CPU ready to continue: call `run` again after handling
    /// it (writing HVC results to X0–X3, completing MMIO, injecting an abort…).
    /// Running again with an MMIO access still pending retries the access.
    public func run<Bus: A64Bus>(_ bus: Bus, maxInstructions: Int) -> A64Stop {
        pendingMMIO = nil
        var remaining = maxInstructions
        while remaining > 0 {
            remaining &-= 1
            if let stop = step(bus) { return stop }
        }
        return .instructionLimit
    }

    /// Executes one instruction; nil means it completed with nothing for the
    /// embedder to do.
    @inline(__always)
    public func step<Bus: A64Bus>(_ bus: Bus) -> A64Stop? {
        // A misaligned PC (from BR to an odd address) cannot be fetched; the
        // PC-alignment fault it would raise is reported as a fetch fault.
        guard pc & 3 == 0 else { return .busFault(address: pc, pc: pc, access: .fetch) }
        let word: UInt32
        do {
            word = try bus.fetch(pc)
        } catch {
            return .busFault(address: error.address, pc: pc, access: .fetch)
        }
        instructionsRetired &+= 1
        return execute(decodeCache.instruction(at: pc, word: word), word: word, bus: bus)
    }

    /// Executes a decoded instruction located at the current PC.
    @inline(__always)
    func execute<Bus: A64Bus>(_ instruction: A64Instruction, word: UInt32, bus: Bus) -> A64Stop? {
        switch instruction {
        // Data processing — immediate
        case let .addSubImmediate(is64, subtract, setFlags, rd, rn, imm):
            addSub(is64: is64, subtract: subtract, setFlags: setFlags, rd: rd, x: read(rn), y: UInt64(imm))
        case let .logicalImmediate(is64, op, rd, rn, imm):
            logical(is64: is64, op: op, rd: rd, x: read(rn), y: imm)
        case let .moveWide(is64, op, rd, imm16, shift):
            moveWide(is64: is64, op: op, rd: rd, imm16: imm16, shift: shift)
        case let .adr(rd, offset):
            write(rd, pc &+ UInt64(bitPattern: offset))
        case let .adrp(rd, offset):
            write(rd, (pc & ~0xFFF) &+ UInt64(bitPattern: offset))
        case let .bitfield(is64, op, rd, rn, immr, imms):
            bitfield(is64: is64, op: op, rd: rd, rn: rn, immr: immr, imms: imms)
        case let .extract(is64, rd, rn, rm, lsb):
            extract(is64: is64, rd: rd, rn: rn, rm: rm, lsb: lsb)

        // Data processing — register
        case let .addSubShifted(is64, subtract, setFlags, rd, rn, rm, shift, amount):
            addSub(is64: is64, subtract: subtract, setFlags: setFlags, rd: rd, x: read(rn), y: shifted(read(rm), shift, amount, is64: is64))
        case let .addSubExtended(is64, subtract, setFlags, rd, rn, rm, extend, amount):
            addSub(is64: is64, subtract: subtract, setFlags: setFlags, rd: rd, x: read(rn), y: extended(read(rm), extend, amount))
        case let .addSubCarry(is64, subtract, setFlags, rd, rn, rm):
            let y = subtract ? ~read(rm) : read(rm)
            write(rd, addWithCarry(read(rn), y, carry: carryFlag, is64: is64, setFlags: setFlags), is64: is64)
        case let .logicalShifted(is64, op, invert, rd, rn, rm, shift, amount):
            let operand = shifted(read(rm), shift, amount, is64: is64)
            logical(is64: is64, op: op, rd: rd, x: read(rn), y: invert ? ~operand : operand)
        case let .conditionalSelect(is64, op, rd, rn, rm, cond):
            conditionalSelect(is64: is64, op: op, rd: rd, rn: rn, rm: rm, cond: cond)
        case let .conditionalCompareRegister(is64, negate, rn, rm, nzcv, cond):
            conditionalCompare(is64: is64, negate: negate, x: read(rn), y: read(rm), nzcv: nzcv, cond: cond)
        case let .conditionalCompareImmediate(is64, negate, rn, imm, nzcv, cond):
            conditionalCompare(is64: is64, negate: negate, x: read(rn), y: UInt64(imm), nzcv: nzcv, cond: cond)
        case let .shiftVariable(is64, shift, rd, rn, rm):
            shiftVariable(is64: is64, shift: shift, rd: rd, rn: rn, rm: rm)
        case let .divide(is64, signed, rd, rn, rm):
            divide(is64: is64, signed: signed, rd: rd, rn: rn, rm: rm)
        case let .multiplyAdd(is64, subtract, rd, rn, rm, ra):
            multiplyAdd(is64: is64, subtract: subtract, rd: rd, rn: rn, rm: rm, ra: ra)
        case let .multiplyAddLong(signed, subtract, rd, rn, rm, ra):
            multiplyAddLong(signed: signed, subtract: subtract, rd: rd, rn: rn, rm: rm, ra: ra)
        case let .multiplyHigh(signed, rd, rn, rm):
            multiplyHigh(signed: signed, rd: rd, rn: rn, rm: rm)
        case let .bitOperation(is64, op, rd, rn):
            bitOperation(is64: is64, op: op, rd: rd, rn: rn)

        // Loads and stores (each advances the PC itself, or stops)
        case let .loadStore(op, size, rt, rn, mode):
            return loadStore(bus, op: op, size: size, rt: rt, rn: rn, mode: mode)
        case let .loadLiteral(op, size, rt, offset):
            return loadLiteral(bus, op: op, size: size, rt: rt, offset: offset)
        case let .loadStorePair(op, size, rt, rt2, rn, mode):
            return loadStorePair(bus, op: op, size: size, rt: rt, rt2: rt2, rn: rn, mode: mode)
        case let .loadExclusive(size, _, rt, rn):
            return loadExclusive(bus, size: size, rt: rt, rn: rn)
        case let .storeExclusive(size, _, rs, rt, rn):
            return storeExclusive(bus, size: size, rs: rs, rt: rt, rn: rn)
        case let .loadAcquire(size, rt, rn):
            return loadStore(bus, op: .load, size: size, rt: rt, rn: rn, mode: .offset(0))
        case let .storeRelease(size, rt, rn):
            return loadStore(bus, op: .store, size: size, rt: rt, rn: rn, mode: .offset(0))
        case .prefetch:
            break

        // Branches (each sets the PC itself)
        case let .branch(offset):
            branchRelative(offset)
            return nil
        case let .branchLink(offset):
            write(.linkRegister, pc &+ 4)
            branchRelative(offset)
            return nil
        case let .branchConditional(cond, offset):
            if conditionHolds(cond) { branchRelative(offset) } else { pc &+= 4 }
            return nil
        case let .compareBranch(is64, nonZero, rt, offset):
            compareBranch(is64: is64, nonZero: nonZero, rt: rt, offset: offset)
            return nil
        case let .testBranch(nonZero, rt, bit, offset):
            testBranch(nonZero: nonZero, rt: rt, bit: bit, offset: offset)
            return nil
        case let .branchRegister(rn):
            branchRegister(rn, link: false)
            return nil
        case let .branchLinkRegister(rn):
            branchRegister(rn, link: true)
            return nil
        case let .ret(rn):
            branchRegister(rn, link: false)
            return nil
        case .eret:
            return exceptionReturn(word: word)

        // Exception generation and system
        case let .svc(imm):
            return supervisorCall(imm)
        case let .hvc(imm):
            return hypervisorCall(.hvc(imm), word: word)
        case let .smc(imm):
            return hypervisorCall(.smc(imm), word: word)
        case let .brk(imm):
            return breakpoint(imm)
        case .udf:
            return undefinedInstruction(word)
        case .wfi:
            pc &+= 4
            return .wfi
        case .wfe, .hint, .barrier, .cacheMaintenance:
            // WFE may complete at once (the event register may be set at any
            // time); hints, barriers and maintenance have nothing to act on.
            break
        case .clrex:
            exclusiveAddress = nil
        case let .mrs(rt, register):
            return moveFromSystemRegister(register, rt: rt, word: word)
        case let .msr(register, rt):
            return moveToSystemRegister(register, rt: rt, word: word)
        case let .msrImmediate(field, imm):
            return moveImmediateToPState(field, imm: imm, word: word)
        case .unsupported:
            instructionsRetired &-= 1
            return .unsupported(word: word, pc: pc)
        }
        pc &+= 4
        return nil
    }
}
