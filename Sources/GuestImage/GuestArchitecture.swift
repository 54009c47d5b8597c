/// An instruction set pvmh has guests for.
///
/// The raw value is the name used in guest names, on the command line and in
/// messages. Each case maps to the ELF `e_machine` value its images carry.
public enum GuestArchitecture: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case x86_64
    case aarch64

    /// The ELF `e_machine` value (`EM_X86_64` 62, `EM_AARCH64` 183).
    public var elfMachine: UInt16 {
        switch self {
        case .x86_64: 62
        case .aarch64: 183
        }
    }

    /// The architecture whose ELF `e_machine` value is `elfMachine`, or nil for
    /// a machine pvmh has no guests for.
    public init?(elfMachine: UInt16) {
        guard let match = Self.allCases.first(where: { $0.elfMachine == elfMachine }) else { return nil }
        self = match
    }

    public var description: String { rawValue }
}
