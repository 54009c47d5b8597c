/// pKVM's page owners (arch/arm64/kvm/hyp/include/nvhe/mem_protect.h).
public enum PKVMOwner: UInt8, Sendable, CustomStringConvertible {
    case host = 0, hyp = 1, guest = 2
    public var description: String {
        switch self {
        case .host: "host"
        case .hyp: "hypervisor"
        case .guest: "guest"
        }
    }
}

/// pKVM's per-owner page states.
public enum PKVMPageState: UInt8, Sendable, CustomStringConvertible {
    case owned = 0, sharedOwned = 1, sharedBorrowed = 2, noPage = 3, poison = 4
    public var description: String {
        switch self {
        case .owned: "OWNED"
        case .sharedOwned: "SHARED_OWNED"
        case .sharedBorrowed: "SHARED_BORROWED"
        case .noPage: "NOPAGE"
        case .poison: "POISON"
        }
    }
}

/// Why EL2 refused a transition (pKVM returns -EPERM; the guest sees SMCCC
/// INVALID_PARAMETER).
public struct HypTransitionError: Error, Equatable, Sendable, CustomStringConvertible {
    public var gfn: UInt64
    public var host: PKVMPageState
    public var guest: PKVMPageState
    public var operation: String
    public var description: String {
        "EL2 refused \(operation) of gfn 0x\(String(gfn, radix: 16)): host \(host), guest \(guest)"
    }
}

/// The model's stage-2 truth: each guest page's state for the host and for
/// the guest, as pKVM tracks it, and whether the page still belongs to the
/// VM's guest_memfd or has been released to the host allocator.
///
/// Per page rather than per range because this is the hypervisor's page
/// table, not the VMM's ledger: pKVM keeps this state in its stage-2 tables
/// and vmemmap, page by page. The VMM's range ledger is checked against it.
/// Storage is raw memory so vCPU threads can read it without copy-on-write.
// @unchecked: raw per-page state words; every transition happens under the model's
// EL2 lock (PKVMModelPlatform.decide; teardown's while no vCPU runs), and reads
// from vCPU threads are of single aligned words.
public final class HypPageTable: @unchecked Sendable {
    public let baseGFN: UInt64
    public let pageCount: Int
    private let hostStates: UnsafeMutablePointer<PKVMPageState>
    private let guestStates: UnsafeMutablePointer<PKVMPageState>
    /// 1 while the page is bound to the VM (guest_memfd), 0 once released to the host allocator.
    private let bound: UnsafeMutablePointer<Bool>

    /// Every page starts host-owned and bound (guest_memfd allocated it).
    public init(baseGFN: UInt64, pageCount: Int) {
        self.baseGFN = baseGFN
        self.pageCount = pageCount
        hostStates = .allocate(capacity: pageCount)
        hostStates.initialize(repeating: .owned, count: pageCount)
        guestStates = .allocate(capacity: pageCount)
        guestStates.initialize(repeating: .noPage, count: pageCount)
        bound = .allocate(capacity: pageCount)
        bound.initialize(repeating: true, count: pageCount)
    }

    deinit {
        hostStates.deallocate()
        guestStates.deallocate()
        bound.deallocate()
    }

    @inline(__always)
    public func index(of gfn: UInt64) -> Int? {
        gfn >= baseGFN && gfn - baseGFN < UInt64(pageCount) ? Int(gfn - baseGFN) : nil
    }

    public func host(_ gfn: UInt64) -> PKVMPageState? { index(of: gfn).map { hostStates[$0] } }
    public func guest(_ gfn: UInt64) -> PKVMPageState? { index(of: gfn).map { guestStates[$0] } }
    public func isBound(_ gfn: UInt64) -> Bool { index(of: gfn).map { bound[$0] } ?? false }

    /// Whether the guest's stage-2 maps the page (it may access it).
    @inline(__always)
    public func guestMayAccess(index: Int) -> Bool {
        let state = guestStates[index]
        return state == .owned || state == .sharedOwned || state == .sharedBorrowed
    }

    /// Whether the host's stage-2 maps the page.
    public func hostMayAccess(_ gfn: UInt64) -> Bool {
        guard let i = index(of: gfn) else { return false }
        let state = hostStates[i]
        return state == .owned || state == .sharedOwned || state == .sharedBorrowed
    }

    /// Donation at creation: host OWNED → NOPAGE, guest NOPAGE → OWNED.
    public func donateAllToGuest() {
        for i in 0..<pageCount where hostStates[i] == .owned {
            hostStates[i] = .noPage
            guestStates[i] = .owned
        }
    }

    /// Guest MEM_SHARE: guest OWNED → SHARED_OWNED, host NOPAGE → SHARED_BORROWED.
    public func guestShare(_ gfn: UInt64) throws(HypTransitionError) {
        guard let i = index(of: gfn) else { throw HypTransitionError(gfn: gfn, host: .noPage, guest: .noPage, operation: "share") }
        guard guestStates[i] == .owned, hostStates[i] == .noPage else {
            throw HypTransitionError(gfn: gfn, host: hostStates[i], guest: guestStates[i], operation: "share")
        }
        guestStates[i] = .sharedOwned
        hostStates[i] = .sharedBorrowed
    }

    /// Guest MEM_UNSHARE: guest SHARED_OWNED → OWNED, host SHARED_BORROWED → NOPAGE.
    public func guestUnshare(_ gfn: UInt64) throws(HypTransitionError) {
        guard let i = index(of: gfn) else { throw HypTransitionError(gfn: gfn, host: .noPage, guest: .noPage, operation: "unshare") }
        guard guestStates[i] == .sharedOwned, hostStates[i] == .sharedBorrowed else {
            throw HypTransitionError(gfn: gfn, host: hostStates[i], guest: guestStates[i], operation: "unshare")
        }
        guestStates[i] = .owned
        hostStates[i] = .noPage
    }

    /// Android's MEM_RELINQUISH: guest OWNED → NOPAGE, host NOPAGE → OWNED.
    /// EL2 zeroes the page (`zero`, by index) before the host owns it.
    public func guestRelinquish(_ gfn: UInt64, zero: (Int) -> Void) throws(HypTransitionError) {
        guard let i = index(of: gfn) else { throw HypTransitionError(gfn: gfn, host: .noPage, guest: .noPage, operation: "relinquish") }
        guard guestStates[i] == .owned, hostStates[i] == .noPage else {
            throw HypTransitionError(gfn: gfn, host: hostStates[i], guest: guestStates[i], operation: "relinquish")
        }
        zero(i)
        guestStates[i] = .noPage
        hostStates[i] = .owned
    }

    /// A guest access to a page the host owns (one the guest relinquished):
    /// pKVM's stage-2 fault handling donates it again, host OWNED → NOPAGE,
    /// guest NOPAGE → OWNED, contents as the host left them. False (nothing
    /// changes) for any other page.
    public func donateOnFault(_ gfn: UInt64) -> Bool {
        guard let i = index(of: gfn), bound[i], hostStates[i] == .owned, guestStates[i] == .noPage else { return false }
        hostStates[i] = .noPage
        guestStates[i] = .owned
        return true
    }

    /// Whether the guest's stage-2 maps page `gfn` (false outside memory).
    public func guestMaps(_ gfn: UInt64) -> Bool { index(of: gfn).map(guestMayAccess(index:)) ?? false }

    /// Android's MMIO guard: the MMIO granules the guest's stage-2 annotates.
    public let mmioGuard = MMIOGuard()

    /// What reclaiming one page at teardown did.
    public enum ReclaimOutcome: Sendable { case zeroed, kept, alreadyHost }

    /// Teardown reclaim of one page: a guest-owned (or poisoned) page is
    /// zeroed (by `zero`) and given to the host; a shared page goes back with
    /// its contents; the guest's mapping goes away either way.
    public func reclaim(index i: Int, zero: (Int) -> Void) -> ReclaimOutcome {
        let outcome: ReclaimOutcome
        switch guestStates[i] {
        case .owned, .poison:
            zero(i)
            outcome = .zeroed
        case .sharedOwned, .sharedBorrowed:
            outcome = .kept
        case .noPage:
            outcome = .alreadyHost
        }
        guestStates[i] = .noPage
        hostStates[i] = .owned
        return outcome
    }

    /// A host-kernel touch of a guest-owned page: pKVM force-reclaims it
    /// (zeroed, back to the host) and poisons the guest's view.
    public func forceReclaim(index i: Int, zero: (Int) -> Void) {
        zero(i)
        guestStates[i] = .poison
        hostStates[i] = .owned
    }

    /// guest_memfd unbind handed the page to the host allocator.
    public func release(index i: Int) { bound[i] = false }

    /// (host, guest) states of page `i`.
    public func states(index i: Int) -> (host: PKVMPageState, guest: PKVMPageState) { (hostStates[i], guestStates[i]) }

    /// Page counts per guest state, for the journal.
    public func guestStateCounts() -> [PKVMPageState: Int] {
        var counts: [PKVMPageState: Int] = [:]
        for i in 0..<pageCount { counts[guestStates[i], default: 0] += 1 }
        return counts
    }
}
