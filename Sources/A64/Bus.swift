/// The physical address space a guest's loads, stores and fetches reach.
///
/// The interpreter does no translation (the MMU is not modelled), so every
/// address is a guest physical address. A bus throws ``A64BusFault`` for an
/// address it does not back; the CPU turns that into a stop and leaves the
/// decision — emulate it as MMIO, or inject a data abort — to the embedder.
/// Values are little-endian, as A64 guests with SCTLR_EL1.EE = 0 expect.
///
/// ``A64CPU/run(_:maxInstructions:)`` is generic over the bus so that calls
/// into it can be specialised and inlined rather than dispatched through an
/// existential on every access.
public protocol A64Bus {
    /// Reads `size` bytes (1, 2, 4 or 8) at `address`, zero-extended.
    func read(_ address: UInt64, size: Int) throws(A64BusFault) -> UInt64
    /// Writes the low `size` bytes (1, 2, 4 or 8) of `value` at `address`.
    func write(_ address: UInt64, size: Int, value: UInt64) throws(A64BusFault)
    /// Fetches the instruction word at `address` (4-byte aligned).
    func fetch(_ address: UInt64) throws(A64BusFault) -> UInt32
}

/// A bus access that no memory backs.
public struct A64BusFault: Error, Equatable, Sendable, CustomStringConvertible {
    /// The address the access was made to.
    public var address: UInt64

    /// A fault for an access to `address`.
    public init(address: UInt64) {
        self.address = address
    }

    public var description: String { "no memory at \(hex(address))" }
}

/// Which kind of access faulted.
public enum A64AccessKind: UInt8, Sendable, CustomStringConvertible {
    case fetch, read, write

    public var description: String {
        switch self {
        case .fetch: "instruction fetch"
        case .read: "read"
        case .write: "write"
        }
    }
}

/// A single-register load or store that the bus did not back, as the embedder
/// needs it to emulate a device register.
///
/// The instruction has not completed: the PC still points at it. For a read,
/// call ``A64CPU/completeMMIORead(_:)`` with the device's value; for a write,
/// ``A64CPU/completeMMIOWrite()``. Either applies the extension the
/// instruction asked for, any base-register writeback, and advances the PC.
/// To treat the access as a fault instead, call ``A64CPU/injectDataAbort(address:isWrite:)``.
public struct A64MMIOAccess: Equatable, Sendable, CustomStringConvertible {
    /// The physical address accessed.
    public var address: UInt64
    /// The access size in bytes: 1, 2, 4 or 8.
    public var size: Int
    /// True for a store.
    public var isWrite: Bool
    /// For a store, the value written (already truncated to `size` bytes).
    public var value: UInt64
    /// The data register (Rt), 0–30 or 31 for XZR.
    public var register: Int
    /// For a load, whether the value is sign-extended into the register.
    public var signExtend: Bool
    /// For a load, whether the destination is the X register (else W).
    public var is64BitRegister: Bool
    /// The address of the load or store instruction.
    public var pc: UInt64

    /// Describes an access; the CPU builds these, tests compare against them.
    public init(address: UInt64, size: Int, isWrite: Bool, value: UInt64, register: Int, signExtend: Bool, is64BitRegister: Bool, pc: UInt64) {
        self.address = address
        self.size = size
        self.isWrite = isWrite
        self.value = value
        self.register = register
        self.signExtend = signExtend
        self.is64BitRegister = is64BitRegister
        self.pc = pc
    }

    public var description: String {
        let target = register == 31 ? (is64BitRegister ? "xzr" : "wzr") : (is64BitRegister ? "x" : "w") + "\(register)"
        if isWrite {
            return "MMIO write of \(size) byte(s) \(hex(value)) to \(hex(address)) from \(target) at pc \(hex(pc))"
        }
        return "MMIO read of \(size) byte(s) from \(hex(address)) into \(target)\(signExtend ? " (sign-extended)" : "") at pc \(hex(pc))"
    }
}
