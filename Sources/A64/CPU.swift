/// An A64 vCPU: the register file, PSTATE and EL1 system registers of one
/// processing element running at EL1 or EL0, with the MMU off.
///
/// EL2 and EL3 are not modelled inside the CPU: HVC and SMC stop the run so
/// the embedder can play the hypervisor or firmware, then resume.
///
/// The CPU owns no memory; ``run(_:maxInstructions:)`` and ``step(_:)`` take
/// an ``A64Bus``. A new CPU starts as after reset into EL1h: PC 0, all
/// registers 0, DAIF masked, no vector table.
public final class A64CPU {
    /// X0–X30, then the zero register (kept at 0), the current SP, PC, NZCV
    /// and the retired-instruction count.
    ///
    /// Keeping the live stack pointer in slot 32 lets every operand — XZR, SP
    /// or Xn, already resolved by the decoder — be one indexed load. A raw
    /// buffer rather than stored properties or an Array keeps the hottest state
    /// free of uniqueness checks and of the dynamic exclusivity checks Swift
    /// applies to class properties accessed around calls into the bus.
    let registers: UnsafeMutablePointer<UInt64>

    static let pcSlot = 33
    static let nzcvSlot = 34
    static let retiredSlot = 35
    static let slotCount = 36

    /// The program counter.
    public var pc: UInt64 {
        @inline(__always) get { registers[Self.pcSlot] }
        @inline(__always) set { registers[Self.pcSlot] = newValue }
    }

    /// PSTATE.{N,Z,C,V} in their SPSR positions (bits 31:28).
    public var nzcv: UInt64 {
        @inline(__always) get { registers[Self.nzcvSlot] }
        @inline(__always) set { registers[Self.nzcvSlot] = newValue }
    }

    /// Instructions executed so far (a load or store that stopped for MMIO
    /// counts once per attempt); CNTVCT_EL0 reads this count.
    public var instructionsRetired: UInt64 {
        @inline(__always) get { registers[Self.retiredSlot] }
        @inline(__always) set { registers[Self.retiredSlot] = newValue }
    }

    /// PSTATE.{D,A,I,F} in their SPSR positions (bits 9:6).
    public var daif: UInt64 = 0x3C0
    /// PSTATE.EL: 0 or 1.
    public private(set) var exceptionLevel: UInt8 = 1
    /// PSTATE.SP: at EL1, true selects SP_EL1 and false SP_EL0.
    public private(set) var spSel: Bool = true
    /// The EL1/EL0 system registers.
    public var system = A64SystemRegisterFile()
    /// The banked copy of whichever stack pointer is not current.
    var savedSPEL0: UInt64 = 0
    var savedSPEL1: UInt64 = 0
    /// The address an LDXR/LDAXR marked, until a store-exclusive, CLREX or
    /// exception return clears it. One CPU means no other agent can break the
    /// reservation, so a store-exclusive fails only after such a clear.
    var exclusiveAddress: UInt64?
    /// The load or store waiting for the embedder to complete it as MMIO.
    var pendingMMIO: PendingMMIO?
    /// Decoded instructions by PC, validated against the fetched word.
    let decodeCache = DecodeCache()

    /// A CPU in its reset state; set `pc`, `sp` and any registers before running.
    public init() {
        registers = .allocate(capacity: Self.slotCount)
        registers.initialize(repeating: 0, count: Self.slotCount)
    }

    deinit {
        registers.deallocate()
    }

    // MARK: Registers

    /// Xn for n in 0...30; index 31 reads as zero (XZR) and ignores writes.
    public subscript(x n: Int) -> UInt64 {
        get {
            precondition((0...31).contains(n), "X\(n) is not a general-purpose register")
            return registers[n]
        }
        set {
            precondition((0...31).contains(n), "X\(n) is not a general-purpose register")
            registers[n] = newValue
            registers[31] = 0
        }
    }

    /// The stack pointer selected by the current exception level and SPSel.
    public var sp: UInt64 {
        get { registers[32] }
        set { registers[32] = newValue }
    }

    /// SP_EL0, whether or not it is the current stack pointer.
    public var spEL0: UInt64 {
        get { usesSPEL0 ? registers[32] : savedSPEL0 }
        set { if usesSPEL0 { registers[32] = newValue } else { savedSPEL0 = newValue } }
    }

    /// SP_EL1, whether or not it is the current stack pointer.
    public var spEL1: UInt64 {
        get { usesSPEL0 ? savedSPEL1 : registers[32] }
        set { if usesSPEL0 { savedSPEL1 = newValue } else { registers[32] = newValue } }
    }

    var usesSPEL0: Bool { exceptionLevel == 0 || !spSel }

    /// PSTATE in SPSR_EL1 layout: NZCV, DAIF and M[3:0] (EL0t 0, EL1t 4, EL1h 5).
    ///
    /// Setting it switches the stack pointer bank. Only the AArch64 EL0/EL1
    /// modes exist here, so other M values are a precondition failure; ERET
    /// checks them first and stops instead.
    public var pstate: UInt64 {
        get { nzcv | daif | UInt64(exceptionLevel) << 2 | (spSel ? 1 : 0) }
        set {
            let mode = newValue & 0x1F
            precondition(Self.isValidMode(mode), "PSTATE mode \(hex(mode)) is not EL0t, EL1t or EL1h")
            nzcv = newValue & 0xF000_0000
            daif = newValue & 0x3C0
            setMode(el: UInt8(mode >> 2), spSel: mode & 1 == 1)
        }
    }

    static func isValidMode(_ mode: UInt64) -> Bool {
        mode == 0b00000 || mode == 0b00100 || mode == 0b00101
    }

    /// Changes EL and SPSel, moving the live stack pointer to its bank first.
    func setMode(el: UInt8, spSel newSPSel: Bool) {
        if usesSPEL0 { savedSPEL0 = registers[32] } else { savedSPEL1 = registers[32] }
        exceptionLevel = el
        spSel = el == 0 ? false : newSPSel
        registers[32] = usesSPEL0 ? savedSPEL0 : savedSPEL1
    }

    /// Whether the guest has installed a vector table, which decides whether
    /// SVC, BRK, undefined instructions and injected aborts are delivered to it
    /// or stop the run.
    public var hasVectorTable: Bool { system.vbarEL1 != 0 }

    /// Whether a load or store is waiting for ``completeMMIORead(_:)`` or
    /// ``completeMMIOWrite()``.
    public var pendingMMIOAccess: A64MMIOAccess? { pendingMMIO?.access }

    // MARK: Operand access used by the executor

    @inline(__always)
    func read(_ register: A64Register) -> UInt64 {
        registers[Int(register.index)]
    }

    @inline(__always)
    func read(_ register: A64Register, is64: Bool) -> UInt64 {
        let value = registers[Int(register.index)]
        return is64 ? value : value & 0xFFFF_FFFF
    }

    /// Writes a result; a write to XZR lands in slot 31 and is undone at once,
    /// which is cheaper than a branch.
    @inline(__always)
    func write(_ register: A64Register, _ value: UInt64) {
        registers[Int(register.index)] = value
        registers[31] = 0
    }

    /// Writes a result of a W or X operation: W results zero the upper half.
    @inline(__always)
    func write(_ register: A64Register, _ value: UInt64, is64: Bool) {
        write(register, is64 ? value : value & 0xFFFF_FFFF)
    }
}
