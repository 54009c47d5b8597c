/// A system register named by its MRS/MSR encoding `op0:op1:CRn:CRm:op2`.
///
/// The raw value is the 16-bit field the instruction carries in bits 20:5, so
/// any register a guest names round-trips even when the interpreter does not
/// model it; the execution of such an access stops as unsupported.
public struct A64SystemRegister: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// `op0:op1:CRn:CRm:op2` packed as in bits 20:5 of MRS/MSR.
    public let rawValue: UInt16

    /// Wraps a packed encoding.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Builds the identifier from the five encoding fields.
    public init(op0: UInt16, op1: UInt16, crn: UInt16, crm: UInt16, op2: UInt16) {
        rawValue = (op0 & 3) << 14 | (op1 & 7) << 11 | (crn & 15) << 7 | (crm & 15) << 3 | (op2 & 7)
    }

    // The five encoding fields.
    public var op0: UInt16 { rawValue >> 14 }
    public var op1: UInt16 { (rawValue >> 11) & 7 }
    public var crn: UInt16 { (rawValue >> 7) & 15 }
    public var crm: UInt16 { (rawValue >> 3) & 15 }
    public var op2: UInt16 { rawValue & 7 }

    // Registers by their architectural names (SP_EL1 is listed so that a
    // guest's access to it can be recognised and refused).
    public static let midrEL1 = Self(op0: 3, op1: 0, crn: 0, crm: 0, op2: 0)
    public static let mpidrEL1 = Self(op0: 3, op1: 0, crn: 0, crm: 0, op2: 5)
    public static let revidrEL1 = Self(op0: 3, op1: 0, crn: 0, crm: 0, op2: 6)
    public static let idAA64PFR0EL1 = Self(op0: 3, op1: 0, crn: 0, crm: 4, op2: 0)
    public static let idAA64PFR1EL1 = Self(op0: 3, op1: 0, crn: 0, crm: 4, op2: 1)
    public static let idAA64DFR0EL1 = Self(op0: 3, op1: 0, crn: 0, crm: 5, op2: 0)
    public static let idAA64DFR1EL1 = Self(op0: 3, op1: 0, crn: 0, crm: 5, op2: 1)
    public static let idAA64AFR0EL1 = Self(op0: 3, op1: 0, crn: 0, crm: 5, op2: 4)
    public static let idAA64AFR1EL1 = Self(op0: 3, op1: 0, crn: 0, crm: 5, op2: 5)
    public static let idAA64ISAR0EL1 = Self(op0: 3, op1: 0, crn: 0, crm: 6, op2: 0)
    public static let idAA64ISAR1EL1 = Self(op0: 3, op1: 0, crn: 0, crm: 6, op2: 1)
    public static let idAA64ISAR2EL1 = Self(op0: 3, op1: 0, crn: 0, crm: 6, op2: 2)
    public static let idAA64MMFR0EL1 = Self(op0: 3, op1: 0, crn: 0, crm: 7, op2: 0)
    public static let idAA64MMFR1EL1 = Self(op0: 3, op1: 0, crn: 0, crm: 7, op2: 1)
    public static let idAA64MMFR2EL1 = Self(op0: 3, op1: 0, crn: 0, crm: 7, op2: 2)
    public static let sctlrEL1 = Self(op0: 3, op1: 0, crn: 1, crm: 0, op2: 0)
    public static let cpacrEL1 = Self(op0: 3, op1: 0, crn: 1, crm: 0, op2: 2)
    public static let ttbr0EL1 = Self(op0: 3, op1: 0, crn: 2, crm: 0, op2: 0)
    public static let ttbr1EL1 = Self(op0: 3, op1: 0, crn: 2, crm: 0, op2: 1)
    public static let tcrEL1 = Self(op0: 3, op1: 0, crn: 2, crm: 0, op2: 2)
    public static let spsrEL1 = Self(op0: 3, op1: 0, crn: 4, crm: 0, op2: 0)
    public static let elrEL1 = Self(op0: 3, op1: 0, crn: 4, crm: 0, op2: 1)
    public static let spEL0 = Self(op0: 3, op1: 0, crn: 4, crm: 1, op2: 0)
    public static let spSel = Self(op0: 3, op1: 0, crn: 4, crm: 2, op2: 0)
    public static let currentEL = Self(op0: 3, op1: 0, crn: 4, crm: 2, op2: 2)
    public static let esrEL1 = Self(op0: 3, op1: 0, crn: 5, crm: 2, op2: 0)
    public static let farEL1 = Self(op0: 3, op1: 0, crn: 6, crm: 0, op2: 0)
    public static let parEL1 = Self(op0: 3, op1: 0, crn: 7, crm: 4, op2: 0)
    public static let mairEL1 = Self(op0: 3, op1: 0, crn: 10, crm: 2, op2: 0)
    public static let amairEL1 = Self(op0: 3, op1: 0, crn: 10, crm: 3, op2: 0)
    public static let vbarEL1 = Self(op0: 3, op1: 0, crn: 12, crm: 0, op2: 0)
    public static let contextidrEL1 = Self(op0: 3, op1: 0, crn: 13, crm: 0, op2: 1)
    public static let tpidrEL1 = Self(op0: 3, op1: 0, crn: 13, crm: 0, op2: 4)
    public static let cntkctlEL1 = Self(op0: 3, op1: 0, crn: 14, crm: 1, op2: 0)
    public static let ctrEL0 = Self(op0: 3, op1: 3, crn: 0, crm: 0, op2: 1)
    public static let dczidEL0 = Self(op0: 3, op1: 3, crn: 0, crm: 0, op2: 7)
    public static let nzcv = Self(op0: 3, op1: 3, crn: 4, crm: 2, op2: 0)
    public static let daif = Self(op0: 3, op1: 3, crn: 4, crm: 2, op2: 1)
    public static let tpidrEL0 = Self(op0: 3, op1: 3, crn: 13, crm: 0, op2: 2)
    public static let tpidrroEL0 = Self(op0: 3, op1: 3, crn: 13, crm: 0, op2: 3)
    public static let cntfrqEL0 = Self(op0: 3, op1: 3, crn: 14, crm: 0, op2: 0)
    public static let cntpctEL0 = Self(op0: 3, op1: 3, crn: 14, crm: 0, op2: 1)
    public static let cntvctEL0 = Self(op0: 3, op1: 3, crn: 14, crm: 0, op2: 2)
    /// SP_EL1 is only accessible by name from EL2 and above, so a guest's
    /// MRS/MSR of it is UNDEFINED.
    public static let spEL1 = Self(op0: 3, op1: 4, crn: 4, crm: 1, op2: 0)

    /// Architectural names for diagnostics; unnamed registers print as `S3_1_C2_C3_4`.
    static let names: [UInt16: String] = [
        midrEL1.rawValue: "MIDR_EL1", mpidrEL1.rawValue: "MPIDR_EL1", revidrEL1.rawValue: "REVIDR_EL1",
        idAA64PFR0EL1.rawValue: "ID_AA64PFR0_EL1", idAA64PFR1EL1.rawValue: "ID_AA64PFR1_EL1",
        idAA64DFR0EL1.rawValue: "ID_AA64DFR0_EL1", idAA64DFR1EL1.rawValue: "ID_AA64DFR1_EL1",
        idAA64AFR0EL1.rawValue: "ID_AA64AFR0_EL1", idAA64AFR1EL1.rawValue: "ID_AA64AFR1_EL1",
        idAA64ISAR0EL1.rawValue: "ID_AA64ISAR0_EL1", idAA64ISAR1EL1.rawValue: "ID_AA64ISAR1_EL1",
        idAA64ISAR2EL1.rawValue: "ID_AA64ISAR2_EL1", idAA64MMFR0EL1.rawValue: "ID_AA64MMFR0_EL1",
        idAA64MMFR1EL1.rawValue: "ID_AA64MMFR1_EL1", idAA64MMFR2EL1.rawValue: "ID_AA64MMFR2_EL1",
        sctlrEL1.rawValue: "SCTLR_EL1", cpacrEL1.rawValue: "CPACR_EL1", ttbr0EL1.rawValue: "TTBR0_EL1",
        ttbr1EL1.rawValue: "TTBR1_EL1", tcrEL1.rawValue: "TCR_EL1", spsrEL1.rawValue: "SPSR_EL1",
        elrEL1.rawValue: "ELR_EL1", spEL0.rawValue: "SP_EL0", spSel.rawValue: "SPSel",
        currentEL.rawValue: "CurrentEL", esrEL1.rawValue: "ESR_EL1", farEL1.rawValue: "FAR_EL1",
        parEL1.rawValue: "PAR_EL1", mairEL1.rawValue: "MAIR_EL1", amairEL1.rawValue: "AMAIR_EL1",
        vbarEL1.rawValue: "VBAR_EL1", contextidrEL1.rawValue: "CONTEXTIDR_EL1", tpidrEL1.rawValue: "TPIDR_EL1",
        cntkctlEL1.rawValue: "CNTKCTL_EL1", ctrEL0.rawValue: "CTR_EL0", dczidEL0.rawValue: "DCZID_EL0",
        nzcv.rawValue: "NZCV", daif.rawValue: "DAIF", tpidrEL0.rawValue: "TPIDR_EL0",
        tpidrroEL0.rawValue: "TPIDRRO_EL0", cntfrqEL0.rawValue: "CNTFRQ_EL0", cntpctEL0.rawValue: "CNTPCT_EL0",
        cntvctEL0.rawValue: "CNTVCT_EL0", spEL1.rawValue: "SP_EL1",
    ]

    public var description: String {
        Self.names[rawValue] ?? "S\(op0)_\(op1)_C\(crn)_C\(crm)_\(op2)"
    }
}
