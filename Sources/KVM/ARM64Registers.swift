/// An arm64 register as `KVM_GET_ONE_REG` and `KVM_SET_ONE_REG` name it.
///
/// The id is `KVM_REG_ARM64 | KVM_REG_SIZE_U64 | group | index`; for the core
/// registers the group is `KVM_REG_ARM_CORE` and the index is the register's
/// byte offset in `struct kvm_regs` divided by 4 (Docs/kvm-abi.md: X*n* is
/// `0x6030000000100000 + 2n`, SP `…3e`, PC `…40`, PSTATE `…42`). The
/// encoding is plain arithmetic, so it is tested on every host.
public struct ARM64Register: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// `KVM_REG_ARM64`: the architecture field (bits 63:56).
    public static let architectureARM64: UInt64 = 0x6000_0000_0000_0000
    /// `KVM_REG_SIZE_U64`: a 64-bit register (bits 55:52 = log2 of 8 bytes).
    public static let sizeU64: UInt64 = 0x0030_0000_0000_0000
    /// `KVM_REG_ARM_CORE`: coprocessor field 0x10 at bit 16.
    public static let coreGroup: UInt64 = 0x0010 << 16

    /// A core register by its byte offset in `struct kvm_regs`
    /// (`user_pt_regs`: `regs[31]`, `sp`, `pc`, `pstate`, 8 bytes each).
    public static func core(byteOffset: Int) -> ARM64Register {
        precondition(byteOffset >= 0 && byteOffset % 4 == 0, "core register offsets are multiples of 4")
        return ARM64Register(rawValue: architectureARM64 | sizeU64 | coreGroup | UInt64(byteOffset / 4))
    }

    /// General-purpose register X*n*, 0 ≤ n ≤ 30 (`regs.regs[n]`).
    public static func x(_ n: Int) -> ARM64Register {
        precondition((0...30).contains(n), "X\(n) does not exist; X0…X30 do")
        return core(byteOffset: 8 * n)
    }

    /// `regs.sp` (SP_EL0; the EL1 stack pointer is a separate register).
    public static let sp = core(byteOffset: 8 * 31)
    /// `regs.pc`.
    public static let pc = core(byteOffset: 8 * 32)
    /// `regs.pstate` (SPSR layout: NZCV, DAIF, mode).
    public static let pstate = core(byteOffset: 8 * 33)

    /// X0…X30, SP, PC, PSTATE: every core register the harness touches.
    public static let allCore: [ARM64Register] = (0...30).map(x) + [sp, pc, pstate]

    /// The core-register index (offset / 4), or nil for another group.
    public var coreIndex: Int? {
        let fixed = ARM64Register.architectureARM64 | ARM64Register.sizeU64 | ARM64Register.coreGroup
        guard rawValue & ~UInt64(0xFFFF) == fixed else { return nil }
        return Int(rawValue & 0xFFFF)
    }

    /// "X0"…"X30", "SP", "PC", "PSTATE", or the id in hex.
    public var description: String {
        switch coreIndex {
        case let index? where index % 2 == 0 && index / 2 <= 30: "X\(index / 2)"
        case 62: "SP"
        case 64: "PC"
        case 66: "PSTATE"
        default: "register 0x\(String(rawValue, radix: 16))"
        }
    }
}

/// PSTATE values (SPSR_ELx layout) the harness starts guests with.
public enum ARM64PSTATE {
    /// M[3:0] = 0b0101: EL1 using SP_EL1.
    public static let el1h: UInt64 = 0x5
    /// D, A, I and F (bits 9:6): every exception masked.
    public static let daifMasked: UInt64 = 0x3C0
    /// EL1h with DAIF masked: what KVM's vCPU reset sets and Linux's arm64
    /// boot protocol requires.
    public static let bareMetalBoot: UInt64 = daifMasked | el1h
}

/// The register state a bare-metal arm64 guest starts in: PC at the ELF
/// entry, EL1h with interrupts masked, X0–X3 zero (no device tree: the
/// built-in guests read no register at entry).
///
/// The MMU and caches are already off: `KVM_ARM_VCPU_INIT` resets SCTLR_EL1
/// to its architectural reset value, so no system register is written.
public struct ARM64BootState: Equatable, Sendable {
    public var pc: UInt64
    public var pstate: UInt64
    /// X0, X1, … at entry.
    public var arguments: [UInt64]

    public init(entry: UInt64, pstate: UInt64 = ARM64PSTATE.bareMetalBoot, arguments: [UInt64] = [0, 0, 0, 0]) {
        pc = entry
        self.pstate = pstate
        self.arguments = arguments
    }

    /// The `KVM_SET_ONE_REG` writes that establish this state, in order.
    public var registerWrites: [(register: ARM64Register, value: UInt64)] {
        arguments.prefix(31).enumerated().map { (ARM64Register.x($0.offset), $0.element) }
            + [(.pstate, pstate), (.pc, pc)]
    }
}
