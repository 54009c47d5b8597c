/// How an x86 guest's share/unshare requests reach the VMM. The guest learns
/// which one to use from EDI at entry (1 = vmcall, 2 = doorbell).
public enum HypercallTransport: String, Sendable, CaseIterable {
    /// `vmcall` with `KVM_HC_MAP_GPA_RANGE`, forwarded by KVM as
    /// `KVM_EXIT_HYPERCALL` (needs `KVM_CAP_EXIT_HYPERCALL` bit 12).
    case vmcall
    /// `outl %eax, $0xe4` with the same registers, for hosts where a guest
    /// vmcall never completes (nested KVM such as kvm_pvm).
    case doorbell

    /// The value the guest receives in EDI.
    public var guestSelector: UInt64 {
        switch self {
        case .vmcall: 1
        case .doorbell: 2
        }
    }
}

/// The x86 demo guest's port and register protocol (Docs/guests.md).
public enum X86GuestProtocol {
    public static let consolePort: UInt16 = 0x3F8
    public static let doorbellPort: UInt16 = 0xE4
    public static let reportPort: UInt16 = 0xE8
    /// `KVM_HC_MAP_GPA_RANGE`.
    public static let mapGPARange: UInt64 = 12
    /// Attribute bit 4: make the range private ("encrypted").
    public static let attributePrivate: UInt64 = 1 << 4
    /// Bits 3:0: page size (0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB).
    public static let pageSizeMask: UInt64 = 0xF
    /// What the VMM hands back for a rejected request: -KVM_EINVAL.
    public static let rejected: Int64 = -22
    /// What the VMM hands back for an unknown hypercall: -KVM_ENOSYS.
    public static let unknownHypercall: Int64 = -1000

    public enum Report: UInt64 {
        case message = 1, check = 2, done = 3
        /// RBX = gpa of the word, RCX = what the guest wrote, RDX = what it read.
        case corrupted = 6
    }
}
