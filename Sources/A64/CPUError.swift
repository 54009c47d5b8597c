/// A request the CPU cannot honour in its current state.
public enum A64CPUError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An exception was to be delivered but the guest has no vector table.
    case noVectorTable(exception: String)
    /// An MMIO completion was given but no matching access is pending.
    case noPendingMMIO(expected: String)

    public var description: String {
        switch self {
        case .noVectorTable(let exception):
            "cannot deliver \(exception) to the guest: it has not installed a vector table (VBAR_EL1 is 0); treat it as a guest crash instead"
        case .noPendingMMIO(let expected):
            "cannot complete an MMIO \(expected): no MMIO \(expected) is pending; call it only after run returned .mmio for a \(expected)"
        }
    }
}
