/// Why ``A64CPU/run(_:maxInstructions:)`` or ``A64CPU/step(_:)`` returned.
///
/// Stops that model a trap to a higher exception level (HVC, SMC) leave the PC
/// past the instruction, as the trap's return address would; stops that report
/// an instruction the guest could not execute leave the PC at it.
public enum A64Stop: Equatable, Sendable, CustomStringConvertible {
    /// HVC #imm: a call to EL2, which the embedder models. PC is past the HVC;
    /// arguments and results are in X0–X7.
    case hvc(UInt16)
    /// SMC #imm: a call to EL3 (or trapped to EL2), handled by the embedder.
    /// PC is past the SMC.
    case smc(UInt16)
    /// WFI: the guest waits for an interrupt. PC is past the WFI.
    case wfi
    /// A single-register load or store the bus did not back; PC is at the
    /// instruction until the embedder completes or aborts it.
    case mmio(A64MMIOAccess)
    /// A fetch, or an access that cannot be emulated as one MMIO register
    /// (a pair, an exclusive), faulted on the bus. PC is at the instruction.
    case busFault(address: UInt64, pc: UInt64, access: A64AccessKind)
    /// SVC with no vector table installed (VBAR_EL1 = 0). PC is past the SVC.
    case svc(UInt16)
    /// BRK with no vector table installed. PC is at the BRK.
    case brk(UInt16)
    /// An architecturally UNDEFINED instruction (UDF, a privilege violation)
    /// with no vector table installed. PC is at the instruction.
    case undefined(word: UInt32, pc: UInt64)
    /// An encoding or system register this interpreter does not implement.
    /// PC is at the instruction; nothing of it was executed.
    case unsupported(word: UInt32, pc: UInt64)
    /// The guest set SCTLR_EL1.M; the write was not performed and PC is at the MSR.
    case mmuEnabled(pc: UInt64)
    /// ERET with an SPSR describing a mode that does not exist here (AArch32, EL2,
    /// EL3). PC is at the ERET.
    case illegalExceptionReturn(spsr: UInt64, pc: UInt64)
    /// The instruction budget given to `run` was used up.
    case instructionLimit

    public var description: String {
        switch self {
        case .hvc(let imm): "hypervisor call (HVC #\(hex(imm)))"
        case .smc(let imm): "secure monitor call (SMC #\(hex(imm)))"
        case .wfi: "wait for interrupt (WFI)"
        case .mmio(let access): access.description
        case .busFault(let address, let pc, let access):
            "bus fault on \(access) of \(hex(address)) at pc \(hex(pc)): no memory there and the access cannot be emulated as MMIO"
        case .svc(let imm): "supervisor call (SVC #\(hex(imm))) with no vector table installed (VBAR_EL1 is 0)"
        case .brk(let imm): "breakpoint (BRK #\(hex(imm))) with no vector table installed (VBAR_EL1 is 0)"
        case .undefined(let word, let pc):
            "undefined instruction \(hex(word, digits: 8)) at pc \(hex(pc)) with no vector table installed (VBAR_EL1 is 0)"
        case .unsupported(let word, let pc):
            "unsupported A64 instruction \(hex(word, digits: 8)) at pc \(hex(pc))"
        case .mmuEnabled(let pc):
            "the guest enabled the MMU (SCTLR_EL1.M = 1) at pc \(hex(pc)), but the A64 interpreter does not model address translation; run the guest with the MMU off"
        case .illegalExceptionReturn(let spsr, let pc):
            "illegal exception return at pc \(hex(pc)): SPSR_EL1 \(hex(spsr)) names a mode other than EL0t, EL1t or EL1h"
        case .instructionLimit: "instruction limit reached"
        }
    }
}
