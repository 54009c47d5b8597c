/// Who may touch a guest page, mirroring pKVM's owner states.
///
/// pKVM keeps a state per owner (Docs/kvm-abi.md, "pKVM page ownership"); the
/// ledger folds each legal combination of host state and guest state into one
/// value, because the harness only needs to know what the host may do with the
/// page and what the guest may ask for next.
public enum PageState: String, Sendable, CaseIterable, Codable {
    /// Host-owned: not guest memory yet, or given back by the guest while it
    /// runs (pKVM: host `OWNED`, guest `NOPAGE`).
    ///
    /// Guest memory enters the ledger private and leaves it reclaimed; the
    /// ledger stores this state only for pages the guest relinquished
    /// (Android pKVM's `MEM_RELINQUISH`). Platforms and the model also use
    /// it to speak about host pages in the same vocabulary.
    case host
    /// The guest owns the page and the host must not touch it (pKVM: guest
    /// `OWNED`, host `NOPAGE`). A host access faults: SIGSEGV in userspace,
    /// EFAULT from a kernel copy.
    case `private`
    /// The guest owns the page and lends it to the host (pKVM: guest
    /// `SHARED_OWNED`, host `SHARED_BORROWED`).
    case shared
    /// Teardown gave the page back to the host. pKVM zeroes pages the guest
    /// owned privately before returning them, so their contents read as zeros;
    /// formerly shared pages keep their contents.
    case reclaimed

    /// The state as a word that fits a sentence ("gfn 0x10 is host-owned").
    var phrase: String {
        switch self {
        case .host: "host-owned"
        case .private: "private"
        case .shared: "shared"
        case .reclaimed: "reclaimed"
        }
    }
}
