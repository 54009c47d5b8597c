/// Why the ledger refused a change.
///
/// A refused change leaves the ledger exactly as it was: every operation
/// validates its whole range before touching anything, as pKVM's
/// `__pkvm_guest_share_host` checks the page state before it changes it. Page
/// errors name the first offending frame in ascending order, so the same
/// request always produces the same error.
public enum LedgerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The page is not inside any range the ledger covers.
    case outsideGuestMemory(gfn: UInt64)
    /// A share asked for a page that is not guest-private (a double share, a
    /// host page, a reclaimed page).
    case notPrivate(gfn: UInt64, state: PageState)
    /// An unshare asked for a page that is not shared.
    case notShared(gfn: UInt64, state: PageState)
    /// A relinquish asked for a page that is not guest-private (a shared
    /// page, or one the host owns already).
    case notRelinquishable(gfn: UInt64, state: PageState)
    /// A donation asked for a page that is not the host's (one the guest
    /// still owns, or shares).
    case notHostOwned(gfn: UInt64, state: PageState)
    /// The range has no pages.
    case emptyRange
    /// Memory being added overlaps memory the ledger already covers.
    case overlapsGuestMemory(GFNRange)
    /// Reclaim has started: no page may change owner any more, and no memory
    /// may be added.
    case tornDown

    /// The value a pKVM guest finds in X0 when the hypervisor refuses the same
    /// `MEM_SHARE` or `MEM_UNSHARE`.
    ///
    /// pKVM answers every refused share or unshare with SMCCC
    /// `INVALID_PARAMETER` (-3), whatever the reason, so a platform that
    /// emulates the hypercall must return exactly this to behave like the
    /// hypervisor. The call ids are `0xC6000003` and `0xC6000004`.
    public var smcccReturnValue: Int64 { -3 }

    /// One sentence naming the page or range, what is wrong, and what follows.
    public var description: String {
        switch self {
        case .outsideGuestMemory(let gfn):
            if gfn == .max {
                return "gfn \(hex(gfn)) is past the last frame a ledger range can cover, so it can never be guest memory"
            }
            return "gfn \(hex(gfn)) is outside guest memory, so the ledger has no owner for it"
        case .notPrivate(let gfn, let state):
            let again = state == .shared ? " again" : ""
            return "gfn \(hex(gfn)) is \(state.phrase), not private, so it cannot be shared\(again)"
        case .notShared(let gfn, let state):
            return "gfn \(hex(gfn)) is \(state.phrase), not shared, so it cannot be unshared"
        case .notRelinquishable(let gfn, let state):
            return "gfn \(hex(gfn)) is \(state.phrase), not private, so the guest cannot give it back to the host"
        case .notHostOwned(let gfn, let state):
            return "gfn \(hex(gfn)) is \(state.phrase), not host-owned, so the hypervisor cannot donate it to the guest again"
        case .emptyRange:
            return "the range has no pages, so there is nothing to change; pass a count of at least 1"
        case .overlapsGuestMemory(let range):
            return "\(range) overlaps guest memory the ledger already covers, so it cannot be added again"
        case .tornDown:
            return "the ledger is torn down (reclaim has started), so no page can change owner and no memory can be added"
        }
    }
}
