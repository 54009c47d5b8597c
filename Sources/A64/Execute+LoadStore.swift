// Loads and stores: address generation, writeback and bus faults.

/// What is left to do when the embedder completes an MMIO access.
struct PendingMMIO {
    var access: A64MMIOAccess
    var op: A64MemoryOp
    var size: UInt8
    var rt: A64Register
    var writeback: (register: A64Register, value: UInt64)?
}

extension A64CPU {
    /// Computes the access address and the base register's new value (if the
    /// mode writes back). Pre-index writes back the address itself; post-index
    /// accesses the old base and writes back base + offset.
    @inline(__always)
    func effectiveAddress(base rn: A64Register, mode: A64AddressMode) -> (address: UInt64, writeback: UInt64?) {
        let base = read(rn)
        switch mode {
        case .offset(let offset):
            return (base &+ UInt64(bitPattern: offset), nil)
        case .preIndex(let offset):
            let address = base &+ UInt64(bitPattern: offset)
            return (address, address)
        case .postIndex(let offset):
            return (base, base &+ UInt64(bitPattern: offset))
        case .register(let rm, let extend, let shift):
            return (base &+ extended(read(rm), extend, shift), nil)
        }
    }

    /// Turns a loaded value into the register value the load asked for.
    @inline(__always)
    static func extendLoaded(_ raw: UInt64, op: A64MemoryOp, size: UInt8) -> UInt64 {
        let bits = 8 << Int(size)
        switch op {
        case .loadSigned64: return UInt64(bitPattern: signExtend(raw, bits: bits))
        case .loadSigned32: return UInt64(bitPattern: signExtend(raw, bits: bits)) & 0xFFFF_FFFF
        default: return raw & ones(bits)
        }
    }

    /// A single-register load or store; a bus fault becomes an MMIO stop that
    /// remembers the writeback so completion can finish the instruction.
    @inline(__always)
    func loadStore<Bus: A64Bus>(_ bus: Bus, op: A64MemoryOp, size: UInt8, rt: A64Register, rn: A64Register, mode: A64AddressMode) -> A64Stop? {
        let (address, writeback) = effectiveAddress(base: rn, mode: mode)
        let bytes = 1 << Int(size)
        if op == .store {
            // The data is read before writeback, so STR X1, [X1], #8 stores the old X1.
            let value = read(rt) & ones(bytes * 8)
            do {
                try bus.write(address, size: bytes, value: value)
            } catch {
                return mmioStop(address: address, op: op, size: size, rt: rt, value: value, writeback: writeback.map { (rn, $0) })
            }
            if let writeback { write(rn, writeback) }
        } else {
            let raw: UInt64
            do {
                raw = try bus.read(address, size: bytes)
            } catch {
                return mmioStop(address: address, op: op, size: size, rt: rt, value: 0, writeback: writeback.map { (rn, $0) })
            }
            // Rt == Rn with writeback is CONSTRAINED UNPREDICTABLE; the loaded
            // value winning is one of the permitted outcomes.
            if let writeback { write(rn, writeback) }
            write(rt, Self.extendLoaded(raw, op: op, size: size))
        }
        pc &+= 4
        return nil
    }

    func loadLiteral<Bus: A64Bus>(_ bus: Bus, op: A64MemoryOp, size: UInt8, rt: A64Register, offset: Int64) -> A64Stop? {
        let address = pc &+ UInt64(bitPattern: offset)
        let raw: UInt64
        do {
            raw = try bus.read(address, size: 1 << Int(size))
        } catch {
            return mmioStop(address: address, op: op, size: size, rt: rt, value: 0, writeback: nil)
        }
        write(rt, Self.extendLoaded(raw, op: op, size: size))
        pc &+= 4
        return nil
    }

    /// LDP/STP/LDPSW. Both loads complete before either register is written,
    /// so a fault on the second half leaves the registers untouched.
    func loadStorePair<Bus: A64Bus>(_ bus: Bus, op: A64MemoryOp, size: UInt8, rt: A64Register, rt2: A64Register, rn: A64Register, mode: A64AddressMode) -> A64Stop? {
        let (address, writeback) = effectiveAddress(base: rn, mode: mode)
        let bytes = 1 << Int(size)
        let second = address &+ UInt64(bytes)
        if op == .store {
            let mask = ones(bytes * 8)
            do {
                try bus.write(address, size: bytes, value: read(rt) & mask)
                try bus.write(second, size: bytes, value: read(rt2) & mask)
            } catch {
                return .busFault(address: error.address, pc: pc, access: .write)
            }
        } else {
            let first: UInt64
            let other: UInt64
            do {
                first = try bus.read(address, size: bytes)
                other = try bus.read(second, size: bytes)
            } catch {
                return .busFault(address: error.address, pc: pc, access: .read)
            }
            if let writeback { write(rn, writeback) }
            write(rt, Self.extendLoaded(first, op: op, size: size))
            write(rt2, Self.extendLoaded(other, op: op, size: size))
            pc &+= 4
            return nil
        }
        if let writeback { write(rn, writeback) }
        pc &+= 4
        return nil
    }

    func loadExclusive<Bus: A64Bus>(_ bus: Bus, size: UInt8, rt: A64Register, rn: A64Register) -> A64Stop? {
        let address = read(rn)
        let raw: UInt64
        do {
            raw = try bus.read(address, size: 1 << Int(size))
        } catch {
            return .busFault(address: error.address, pc: pc, access: .read)
        }
        exclusiveAddress = address
        write(rt, Self.extendLoaded(raw, op: .load, size: size))
        pc &+= 4
        return nil
    }

    /// STXR/STLXR: stores and writes 0 to Rs only if the reservation from the
    /// matching load-exclusive is still held; either way the reservation ends.
    func storeExclusive<Bus: A64Bus>(_ bus: Bus, size: UInt8, rs: A64Register, rt: A64Register, rn: A64Register) -> A64Stop? {
        let address = read(rn)
        if exclusiveAddress == address {
            let bytes = 1 << Int(size)
            do {
                try bus.write(address, size: bytes, value: read(rt) & ones(bytes * 8))
            } catch {
                return .busFault(address: error.address, pc: pc, access: .write)
            }
            write(rs, 0)
        } else {
            write(rs, 1)
        }
        exclusiveAddress = nil
        pc &+= 4
        return nil
    }

    /// Records the access for ``completeMMIORead(_:)``/``completeMMIOWrite()``
    /// and reports it; the PC stays at the instruction.
    func mmioStop(address: UInt64, op: A64MemoryOp, size: UInt8, rt: A64Register, value: UInt64, writeback: (A64Register, UInt64)?) -> A64Stop {
        let access = A64MMIOAccess(
            address: address, size: 1 << Int(size), isWrite: op == .store, value: value,
            register: Int(rt.index), signExtend: op == .loadSigned32 || op == .loadSigned64,
            is64BitRegister: op == .loadSigned64 || (op != .loadSigned32 && size == 3), pc: pc)
        pendingMMIO = PendingMMIO(access: access, op: op, size: size, rt: rt, writeback: writeback.map { (register: $0.0, value: $0.1) })
        return .mmio(access)
    }
}
