/// Why a lifecycle could not proceed. Each case's description is one sentence
/// saying what failed and what to do.
public enum LifecycleError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The user's input (options, image) is unusable: exit code 2.
    case badInput(String)
    /// The platform cannot be used on this host (missing capability...).
    case platformUnavailable(String)
    /// A platform operation failed (the message keeps the ioctl name and errno).
    case platform(String)
    /// An operation was attempted in the wrong lifecycle state.
    case invalidState(String)
    /// A teardown step's precondition or postcondition did not hold.
    case teardown(String)

    public var description: String {
        switch self {
        case .badInput(let s), .platformUnavailable(let s), .platform(let s), .invalidState(let s), .teardown(let s): s
        }
    }

    /// Exit code per Docs/style.md: 2 for bad input, 1 otherwise.
    public var exitCode: Int32 {
        if case .badInput = self { return 2 }
        return 1
    }
}
