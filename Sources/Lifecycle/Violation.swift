import Ownership

/// Something that must not happen in a protected-VM lifecycle, found by the
/// lifecycle itself or reported by the platform (`finding`). Every one fails
/// the run; checks decide on the case, never on the words.
public enum Violation: Equatable, Sendable, CustomStringConvertible {
    /// The platform could not enforce a transition the ledger made.
    case enforcementFailed(MemoryRequest.Operation, GFNRange, error: String)
    /// The guest sent a harness report the harness does not know.
    case unknownReport(code: UInt64, arguments: [UInt64])
    /// The guest read back a word of its memory that is not what it wrote
    /// (a shared page changed under it, or a private page lost its secret).
    case guestSawCorruption(gpa: UInt64, expected: UInt64, found: UInt64, pageSize: UInt64)
    /// The host would not, or could not, read the message the guest pointed it at.
    case messageRefused(MessageRefusal)
    /// Before reclaim the host could read a page the ledger holds private.
    case privateReadableBeforeReclaim(gfn: UInt64)
    /// After reclaim a formerly private page still held a non-zero byte.
    case notZeroAfterReclaim(gfn: UInt64, offset: Int, byte: UInt8)
    /// At the end of the run the platform's own record of host access (the
    /// host view's protections, the model's owner table, a probe) says the
    /// host may (or may not) touch pages the ledger holds otherwise.
    case platformDisagrees(GFNRange, ledger: PageState, hostMayAccess: Bool, source: String)
    /// More pages disagreed than are listed one by one.
    case moreDisagreements(listed: UInt64, total: UInt64)
    /// More formerly private pages failed the zero check than are listed one by one.
    case morePagesNotZero(listed: UInt64, total: UInt64)
    /// A reclaimed page could not be read back to check it.
    case reclaimedPageUnreadable(gfn: UInt64, error: String)
    /// A page the guest relinquished reads non-zero: EL2 must zero it
    /// before the host owns it (Android pKVM's `hyp_poison_page`).
    case notZeroAfterRelinquish(gfn: UInt64, offset: Int, byte: UInt8)
    /// The host could not read a page the ledger says the guest gave back.
    case relinquishedPageUnreadable(gfn: UInt64, error: String)
    /// After teardown the platform still held these fds or mappings.
    case resourcesHeld([String])
    /// What the platform detected (a host fault, a contradicted claim…).
    case finding(Finding)

    /// A leak of private contents or of isolation: what the isolation checks judge.
    public var isIsolationBreach: Bool {
        switch self {
        case .privateReadableBeforeReclaim, .notZeroAfterReclaim, .morePagesNotZero, .platformDisagrees, .moreDisagreements,
             .notZeroAfterRelinquish: true
        default: false
        }
    }

    public var isHostFault: Bool {
        if case .finding(let finding) = self { return finding.isHostFault }
        return false
    }

    public var description: String {
        switch self {
        case .enforcementFailed(let operation, let range, let error):
            "could not enforce \(operation.rawValue) of \(range): \(error)"
        case .unknownReport(let code, let arguments):
            "the guest sent unknown harness report \(code) (arguments \(arguments)); ignored"
        case .guestSawCorruption(let gpa, let expected, let found, let pageSize):
            "the guest found gfn \(hex(gpa / pageSize)) corrupted: the word at gpa \(hex(gpa)) reads \(hex(found)), not the \(hex(expected)) it wrote"
        case .messageRefused(let refusal):
            refusal.description
        case .privateReadableBeforeReclaim(let gfn):
            "the host could read private gfn \(hex(gfn)) before reclaim: the platform does not enforce isolation"
        case .notZeroAfterReclaim(let gfn, let offset, let byte):
            "gfn \(hex(gfn)) was private but is not zero after reclaim (byte \(offset) is 0x\(String(byte, radix: 16))): private contents leaked to the host"
        case .platformDisagrees(let range, let state, let open, let source):
            "\(range) \(range.count == 1 ? "is" : "are") \(state.rawValue) in the ledger, but \(source) \(open ? "lets the host touch" : "closes") \(range.count == 1 ? "it" : "them")"
        case .moreDisagreements(let listed, let total):
            "\(total) pages in all disagree between the ledger and the platform (the first \(listed) runs are listed)"
        case .morePagesNotZero(let listed, let total):
            "\(total) reclaimed pages failed the zero check in all (the first \(listed) are listed): private contents leaked to the host or could not be checked"
        case .reclaimedPageUnreadable(let gfn, let error):
            "could not read reclaimed gfn \(hex(gfn)): \(error)"
        case .notZeroAfterRelinquish(let gfn, let offset, let byte):
            "gfn \(hex(gfn)) was relinquished by the guest but is not zero for the host (byte \(offset) is 0x\(String(byte, radix: 16))): the hypervisor gave private contents to the host"
        case .relinquishedPageUnreadable(let gfn, let error):
            "could not read gfn \(hex(gfn)), which the guest relinquished to the host: \(error)"
        case .resourcesHeld(let held):
            "after teardown the platform still holds \(held.joined(separator: ", "))"
        case .finding(let finding):
            finding.description
        }
    }
}

/// Why the host did not read the guest's message.
public enum MessageRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    case unusableLength(gpa: UInt64, length: UInt64)
    /// A page the message spans is not shared (nil state: outside guest memory).
    case notShared(gfn: UInt64, state: PageState?)
    case readFailed(String)

    public var description: String {
        switch self {
        case .unusableLength(let gpa, let length):
            "the guest's message at gpa \(hex(gpa)) has an unusable length \(length)"
        case .notShared(let gfn, let state):
            "the guest asked the host to read gfn \(hex(gfn)), which is \(state.map(\.rawValue) ?? "outside guest memory"); the host refused to touch it"
        case .readFailed(let why):
            "reading the shared message failed: \(why)"
        }
    }
}
