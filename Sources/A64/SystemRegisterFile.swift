/// The EL1 and EL0 system registers a bare-metal guest reads and writes.
///
/// Registers that live in PSTATE (NZCV, DAIF, CurrentEL, SPSel) or in the
/// stack-pointer bank (SP_EL0) are handled by ``A64CPU`` itself; this type
/// holds the rest, including the identification values the embedder may
/// change before running the guest.
public struct A64SystemRegisterFile: Sendable {
    /// SCTLR_EL1; the reset value sets the bits that are RES1 in ARMv8.0.
    public var sctlrEL1: UInt64 = 0x30D0_0800
    /// CPACR_EL1; stored only (there is no FP/SIMD state to enable).
    public var cpacrEL1: UInt64 = 0
    /// TTBR0_EL1; stored only, since translation is not modelled.
    public var ttbr0EL1: UInt64 = 0
    /// TTBR1_EL1; stored only.
    public var ttbr1EL1: UInt64 = 0
    /// TCR_EL1; stored only.
    public var tcrEL1: UInt64 = 0
    /// MAIR_EL1; stored only.
    public var mairEL1: UInt64 = 0
    /// AMAIR_EL1; stored only.
    public var amairEL1: UInt64 = 0
    /// VBAR_EL1; zero means "no vector table": exceptions then stop the run.
    public var vbarEL1: UInt64 = 0
    /// ELR_EL1: the return address of the last exception taken to EL1.
    public var elrEL1: UInt64 = 0
    /// SPSR_EL1: PSTATE saved by the last exception taken to EL1.
    public var spsrEL1: UInt64 = 0
    /// ESR_EL1: the syndrome (EC, IL, ISS) of the last exception.
    public var esrEL1: UInt64 = 0
    /// FAR_EL1: the faulting address of the last abort.
    public var farEL1: UInt64 = 0
    /// PAR_EL1; stored only (AT is not modelled).
    public var parEL1: UInt64 = 0
    /// CONTEXTIDR_EL1.
    public var contextidrEL1: UInt64 = 0
    /// TPIDR_EL1: EL1 software thread ID.
    public var tpidrEL1: UInt64 = 0
    /// TPIDR_EL0: EL0 read/write software thread ID.
    public var tpidrEL0: UInt64 = 0
    /// TPIDRRO_EL0: read-only at EL0, writable here by the embedder.
    public var tpidrroEL0: UInt64 = 0
    /// CNTKCTL_EL1; stored only (EL0 counter access is always allowed).
    public var cntkctlEL1: UInt64 = 0
    /// CNTFRQ_EL0 as firmware would have programmed it (QEMU `virt`'s 62.5 MHz).
    public var counterFrequency: UInt64 = 62_500_000
    /// CTR_EL0: 64-byte cache lines, as on Cortex-A53.
    public var ctrEL0: UInt64 = 0x8444_C004
    /// DCZID_EL0 with DZP set: DC ZVA is prohibited, matching its absence here.
    public var dczidEL0: UInt64 = 0x10
    /// MIDR_EL1: an ARM Cortex-A53 r0p4, a common target for small guests.
    public var midrEL1: UInt64 = 0x410F_D034
    /// MPIDR_EL1: bit 31 is RES1; affinity 0.0.0 (a single vCPU).
    public var mpidrEL1: UInt64 = 0x8000_0000
    /// Values of the ID register space (op0 3, op1 0, CRn 0, CRm 1–7). Any
    /// register absent here reads as zero, which is what the architecture
    /// requires for unallocated ID registers.
    public var idRegisters: [A64SystemRegister: UInt64] = [
        // EL0, EL1 and EL2 implemented in AArch64 only; no EL3; FP and AdvSIMD
        // not implemented (0xF), since the interpreter has no vector registers.
        .idAA64PFR0EL1: 0x00FF_0111,
        // 36-bit physical addresses, 4 KiB and 64 KiB granules (TGran16 = 0
        // means unsupported), so a guest probing for an MMU sees a plausible core.
        .idAA64MMFR0EL1: 0x0000_0000_0000_0001,
    ]

    /// The reset state: everything zero except the RES1 bits of SCTLR_EL1
    /// and the identification values above.
    public init() {}

    /// The outcome of a system-register access.
    enum Access: Equatable {
        case value(UInt64)
        /// The access is architecturally UNDEFINED at this exception level.
        case undefined
        /// The register is not modelled.
        case unsupported
    }

    /// Reads `register` from exception level `el`, or says why it cannot.
    func read(_ register: A64SystemRegister, el: UInt8, instructionsRetired: UInt64) -> Access {
        switch register {
        case .tpidrEL0: return .value(tpidrEL0)
        case .tpidrroEL0: return .value(tpidrroEL0)
        // EL0 access to the counters, CTR and DCZID is allowed here as Linux
        // configures it (CNTKCTL_EL1.EL0VCTEN, SCTLR_EL1.UCT).
        case .cntfrqEL0: return .value(counterFrequency)
        // The counter ticks once per retired instruction: deterministic, so a
        // guest's timing loop behaves the same on every host.
        case .cntvctEL0, .cntpctEL0: return .value(instructionsRetired)
        case .ctrEL0: return .value(ctrEL0)
        case .dczidEL0: return .value(dczidEL0)
        default: break
        }
        guard el >= 1 else { return .undefined }
        switch register {
        case .sctlrEL1: return .value(sctlrEL1)
        case .cpacrEL1: return .value(cpacrEL1)
        case .ttbr0EL1: return .value(ttbr0EL1)
        case .ttbr1EL1: return .value(ttbr1EL1)
        case .tcrEL1: return .value(tcrEL1)
        case .mairEL1: return .value(mairEL1)
        case .amairEL1: return .value(amairEL1)
        case .vbarEL1: return .value(vbarEL1)
        case .elrEL1: return .value(elrEL1)
        case .spsrEL1: return .value(spsrEL1)
        case .esrEL1: return .value(esrEL1)
        case .farEL1: return .value(farEL1)
        case .parEL1: return .value(parEL1)
        case .contextidrEL1: return .value(contextidrEL1)
        case .tpidrEL1: return .value(tpidrEL1)
        case .cntkctlEL1: return .value(cntkctlEL1)
        case .midrEL1: return .value(midrEL1)
        case .mpidrEL1: return .value(mpidrEL1)
        case .revidrEL1: return .value(0)
        case .spEL1: return .undefined
        default:
            if register.isIDSpace { return .value(idRegisters[register] ?? 0) }
            return .unsupported
        }
    }

    /// Writes `value` to `register` from exception level `el`, or says why it cannot.
    mutating func write(_ register: A64SystemRegister, value: UInt64, el: UInt8) -> Access {
        switch register {
        case .tpidrEL0: tpidrEL0 = value; return .value(value)
        case .tpidrroEL0, .cntfrqEL0, .cntvctEL0, .cntpctEL0, .ctrEL0, .dczidEL0:
            // Read-only from EL0/EL1 (CNTFRQ is only writable at the highest EL).
            return .undefined
        default: break
        }
        guard el >= 1 else { return .undefined }
        switch register {
        case .sctlrEL1: sctlrEL1 = value
        case .cpacrEL1: cpacrEL1 = value
        case .ttbr0EL1: ttbr0EL1 = value
        case .ttbr1EL1: ttbr1EL1 = value
        case .tcrEL1: tcrEL1 = value
        case .mairEL1: mairEL1 = value
        case .amairEL1: amairEL1 = value
        // VBAR_EL1 bits 10:0 are RES0: the table is 2 KiB aligned.
        case .vbarEL1: vbarEL1 = value & ~0x7FF
        case .elrEL1: elrEL1 = value
        case .spsrEL1: spsrEL1 = value
        case .esrEL1: esrEL1 = value
        case .farEL1: farEL1 = value
        case .parEL1: parEL1 = value
        case .contextidrEL1: contextidrEL1 = value
        case .tpidrEL1: tpidrEL1 = value
        case .cntkctlEL1: cntkctlEL1 = value
        case .midrEL1, .mpidrEL1, .revidrEL1, .spEL1: return .undefined
        default:
            return register.isIDSpace ? .undefined : .unsupported
        }
        return .value(value)
    }
}

extension A64SystemRegister {
    /// The identification-register space (op0 3, op1 0, CRn 0), all read-only.
    var isIDSpace: Bool { op0 == 3 && op1 == 0 && crn == 0 }
}
