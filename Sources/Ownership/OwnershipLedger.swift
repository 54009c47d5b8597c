/// The harness's record of who owns every guest page.
///
/// The ledger follows pKVM's ownership state machine (Docs/kvm-abi.md, "pKVM
/// page ownership") for a protected VM: memory is private from the moment it is
/// added, the guest moves pages between private and shared with `MEM_SHARE` and
/// `MEM_UNSHARE`, and teardown reclaims everything at once. It only records and
/// checks; reflecting a change into the platform (attributes ioctl, `mprotect`,
/// or nothing where the hypervisor does it) is the lifecycle's job.
///
/// Every change is all-or-nothing: the whole range is validated before any page
/// changes, because a hypercall that fails must leave the guest's memory as it
/// was, and the lifecycle compares the ledger with what the hypervisor enforces
/// after every step.
///
/// Storage is O(number of coalesced runs), never O(pages).
public struct OwnershipLedger: Sendable {
    private var storage = RunStorage()

    /// Whether teardown has started (``reclaimAll()`` or ``releaseAll()`` ran).
    ///
    /// pKVM marks a VM dying before it reclaims any page, and from then on no
    /// page may change owner; the ledger refuses shares, unshares and added
    /// memory for the same reason.
    public private(set) var isTornDown = false

    /// Creates an empty ledger: no guest memory, nothing torn down.
    public init() {}

    // MARK: Memory

    /// Adds guest memory and marks all of it private in one step.
    ///
    /// A protected VM's memory is private from birth: pKVM donates each page
    /// to the guest on its first fault and the host gets it back before
    /// teardown only if the guest relinquishes it (``relinquish(_:)``). The cost is one
    /// run whatever the size (a 1 TiB guest is one entry), and memory that
    /// touches an existing private range merges with it.
    ///
    /// Throws ``LedgerError/tornDown`` after teardown started,
    /// ``LedgerError/emptyRange`` for zero pages,
    /// ``LedgerError/outsideGuestMemory(gfn:)`` with `UInt64.max` when the
    /// range runs past the last representable frame, and
    /// ``LedgerError/overlapsGuestMemory(_:)`` when any page is already covered.
    public mutating func addPrivateMemory(_ range: GFNRange) throws(LedgerError) {
        guard !isTornDown else { throw .tornDown }
        guard !range.isEmpty else { throw .emptyRange }
        guard range.isRepresentable else { throw .outsideGuestMemory(gfn: .max) }
        guard !storage.overlaps(range) else { throw .overlapsGuestMemory(range) }
        storage.insert(range, as: .private)
    }

    // MARK: Guest transitions

    /// Shares every page of `range` with the host: private → shared.
    ///
    /// This is the guest's `MEM_SHARE` (pKVM: guest `OWNED → SHARED_OWNED`,
    /// host `NOPAGE → SHARED_BORROWED`). pKVM refuses to share a page the guest
    /// does not own privately, so a double share, or a share of a page that is
    /// not guest memory, is an error, and nothing changes.
    ///
    /// Throws ``LedgerError/tornDown``, ``LedgerError/emptyRange``, or for the
    /// first offending page in ascending order
    /// ``LedgerError/outsideGuestMemory(gfn:)`` or
    /// ``LedgerError/notPrivate(gfn:state:)``.
    public mutating func share(_ range: GFNRange) throws(LedgerError) {
        try transition(range, from: .private, to: .shared) { gfn, state in
            .notPrivate(gfn: gfn, state: state)
        }
    }

    /// Takes every page of `range` back from the host: shared → private.
    ///
    /// This is the guest's `MEM_UNSHARE` (pKVM: guest `SHARED_OWNED → OWNED`,
    /// host `SHARED_BORROWED → NOPAGE`). pKVM only unshares a page the guest
    /// shared, so unsharing a private page is an error, and nothing changes.
    ///
    /// Throws ``LedgerError/tornDown``, ``LedgerError/emptyRange``, or for the
    /// first offending page in ascending order
    /// ``LedgerError/outsideGuestMemory(gfn:)`` or
    /// ``LedgerError/notShared(gfn:state:)``.
    public mutating func unshare(_ range: GFNRange) throws(LedgerError) {
        try transition(range, from: .shared, to: .private) { gfn, state in
            .notShared(gfn: gfn, state: state)
        }
    }

    /// Gives every page of `range` back to the host: private → host.
    ///
    /// This is Android pKVM's `MEM_RELINQUISH` (Docs/kvm-abi.md, "Android's
    /// protected-VM ABI"): EL2 zeroes the page, takes it out of the guest's
    /// stage-2 and makes the host its owner again while the VM runs (a
    /// balloon). Only a page the guest owns privately can be given back: pKVM
    /// refuses a shared one, and a page that is already the host's is not
    /// the guest's to give, so both are errors, and nothing changes.
    ///
    /// Throws ``LedgerError/tornDown``, ``LedgerError/emptyRange``, or for the
    /// first offending page in ascending order
    /// ``LedgerError/outsideGuestMemory(gfn:)`` or
    /// ``LedgerError/notRelinquishable(gfn:state:)``.
    public mutating func relinquish(_ range: GFNRange) throws(LedgerError) {
        try transition(range, from: .private, to: .host) { gfn, state in
            .notRelinquishable(gfn: gfn, state: state)
        }
    }

    /// Gives pages the guest relinquished back to it: host → private.
    ///
    /// Not a call: a guest that touches a page it gave back takes a stage-2
    /// fault, and pKVM donates the page to it again (host `OWNED → NOPAGE`,
    /// guest `NOPAGE → OWNED`), as it donates every page on first touch.
    /// Only the host's pages can be donated; anything else is an error, and
    /// nothing changes.
    ///
    /// Throws ``LedgerError/tornDown``, ``LedgerError/emptyRange``, or for the
    /// first offending page in ascending order
    /// ``LedgerError/outsideGuestMemory(gfn:)`` or
    /// ``LedgerError/notHostOwned(gfn:state:)``.
    public mutating func donate(_ range: GFNRange) throws(LedgerError) {
        try transition(range, from: .host, to: .private) { gfn, state in
            .notHostOwned(gfn: gfn, state: state)
        }
    }

    /// Shares one page; see ``share(_:)``.
    public mutating func share(gfn: UInt64) throws(LedgerError) {
        try share(GFNRange(start: gfn, count: 1))
    }

    /// Unshares one page; see ``unshare(_:)``.
    public mutating func unshare(gfn: UInt64) throws(LedgerError) {
        try unshare(GFNRange(start: gfn, count: 1))
    }

    // MARK: Teardown

    /// Teardown: gives every page back to the host.
    ///
    /// Reclaim must come before guest_memfd is unbound and the memory is
    /// released: until the hypervisor has returned a page to the host, the host
    /// kernel touching it oopses (the bug the teardown order exists to prevent).
    /// pKVM zeroes pages the guest owned privately as it reclaims them and keeps
    /// the contents of shared ones, so the result says which were which.
    ///
    /// From here on the ledger is torn down. Calling it again reclaims nothing
    /// and returns an empty report, so a retried teardown step is harmless.
    ///
    /// - Returns: the ranges that were private and those that were shared,
    ///   each coalesced and sorted.
    @discardableResult
    public mutating func reclaimAll() -> Reclaim {
        isTornDown = true
        let reclaim = Reclaim(formerlyPrivate: storage.ranges(in: .private),
                              formerlyShared: storage.ranges(in: .shared),
                              relinquished: storage.ranges(in: .host))
        storage.assignAll(to: .reclaimed)
        return reclaim
    }

    /// Forgets all guest memory, after the platform has unbound and released it.
    ///
    /// Afterwards the ledger is empty, every count is zero, and it stays torn
    /// down. It does not insist that ``reclaimAll()`` ran first: the teardown
    /// plan checks that precondition (``counts`` has no private or shared
    /// pages), and the regression suite must be able to run the broken order on
    /// purpose.
    public mutating func releaseAll() {
        isTornDown = true
        storage.removeAll()
    }

    // MARK: Queries

    /// The state of one page, or nil if it is outside guest memory.
    public func state(of gfn: UInt64) -> PageState? {
        storage.state(of: gfn)
    }

    /// The ranges in one state, coalesced and sorted.
    public func ranges(in state: PageState) -> [GFNRange] {
        storage.ranges(in: state)
    }

    /// How many pages are in each state.
    public var counts: PageCounts { storage.counts }

    /// Every run in frame order, each with its state: O(runs), never O(pages).
    /// What the lifecycle's ownership snapshots (and the map drawn from
    /// them) are made of.
    public var ownedRanges: [OwnedRange] { storage.runs.map { OwnedRange($0.range, $0.state) } }

    /// The number of stored (coalesced) runs: the ledger's memory cost.
    public var rangeCount: Int { storage.runCount }

    /// The storage's own first inconsistency, for ``checkInvariants()``.
    var storageInvariantViolation: String? { storage.firstInvariantViolation() }

    // MARK: Private

    /// Validates the whole range against `from`, then moves it to `to`.
    private mutating func transition(
        _ range: GFNRange,
        from: PageState,
        to: PageState,
        wrongState: (UInt64, PageState) -> LedgerError
    ) throws(LedgerError) {
        guard !isTornDown else { throw .tornDown }
        guard !range.isEmpty else { throw .emptyRange }
        switch storage.firstMismatch(in: range, expected: from) {
        case .uncovered(let gfn)?:
            throw .outsideGuestMemory(gfn: gfn)
        case .wrongState(let gfn, let state)?:
            throw wrongState(gfn, state)
        case nil:
            storage.assign(range, to: to)
        }
    }
}
