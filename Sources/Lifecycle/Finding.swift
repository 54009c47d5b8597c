import Glibc
import Synchronization

/// What a platform itself detected going wrong, with the data that names it.
/// Checks decide on the case, never on the words; `description` is for people.
public enum Finding: Equatable, Sendable, CustomStringConvertible {
    /// The host touched a page the guest owns (the model checks every host
    /// access against EL2's owner table). `by` says who touched it.
    case hostTouchedGuestPage(gfn: UInt64, hostState: String, guestState: String, by: String)
    /// The host allocator reused a page the hypervisor still held for the
    /// guest: guest_memfd was unbound before the hypervisor reclaimed it.
    case allocatorReusedGuestPage(gfn: UInt64, hostState: String, guestState: String)
    /// More such reuses than are listed one by one.
    case moreAllocatorReuses(count: Int)
    /// The guest's SHARED/UNSHARED claim against what the hypervisor's table
    /// holds (nil: outside guest memory).
    case claimContradictsHypervisor(ARM64OwnershipClaim, hypervisorState: String?)
    /// The guest's claim against what a host read of the page did.
    case claimContradictsHostView(ARM64OwnershipClaim, access: HostAccess)
    /// The hypervisor and the ledger answered one share/unshare differently
    /// (nil refusal: accepted).
    case ledgerDisagreesWithHypervisor(operation: MemoryRequest.Operation, ipa: UInt64, hypervisorRefusal: String?,
                                       ledgerRefusal: MemoryRequestRejection?)

    /// A host access to memory the host does not own: the crash the safe
    /// teardown order exists to prevent.
    public var isHostFault: Bool {
        switch self {
        case .hostTouchedGuestPage, .allocatorReusedGuestPage, .moreAllocatorReuses: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .hostTouchedGuestPage(let gfn, let host, let guest, let by):
            "host fault: \(by) touched gfn \(hex(gfn)), which the guest owns (host \(host), guest \(guest))"
        case .allocatorReusedGuestPage(let gfn, let host, let guest):
            "host fault: the host allocator reused gfn \(hex(gfn)), a page the hypervisor still held for the guest (host \(host), guest \(guest)): guest_memfd was unbound before the hypervisor reclaimed it"
        case .moreAllocatorReuses(let count):
            "host fault: \(count) more pages were reused by the host allocator while the guest owned them"
        case .claimContradictsHypervisor(let claim, let state):
            "the guest claims it \(claim.kind.rawValue) IPA \(hex(claim.ipa)), but EL2 has the page as \(state ?? "outside guest memory")"
        case .claimContradictsHostView(let claim, let access):
            "the guest claims it \(claim.kind.rawValue) IPA \(hex(claim.ipa)), but a host read of that page was \(access) instead of \(claim.expects(.readable(0)) ? "readable" : "faulted (SIGSEGV, si_code \(SEGV_ACCERR))"): the hypervisor and the guest's report disagree"
        case .ledgerDisagreesWithHypervisor(let operation, let ipa, let hypervisorRefusal, let ledgerRefusal):
            "ledger and EL2 disagree on \(operation.rawValue) of IPA \(hex(ipa)): EL2 \(hypervisorRefusal.map { "refused (\($0))" } ?? "accepted"), the ledger \(ledgerRefusal.map { "refused (\($0))" } ?? "accepted")"
        }
    }
}

extension Finding {
    /// The disagreement between what the hypervisor answered and what the
    /// ledger decided about the same request, or nil when they agree.
    static func disagreement(_ request: MemoryRequest, hypervisor: HypervisorVerdict,
                             ledger: Result<Void, MemoryRequestRejection>) -> Finding? {
        switch (hypervisor, ledger) {
        case (.accepted, .success), (.refused, .failure):
            return nil
        case (.accepted, .failure(let why)):
            return .ledgerDisagreesWithHypervisor(operation: request.operation, ipa: request.gpa, hypervisorRefusal: nil, ledgerRefusal: why)
        case (.refused(let why), .success):
            return .ledgerDisagreesWithHypervisor(operation: request.operation, ipa: request.gpa, hypervisorRefusal: why, ledgerRefusal: nil)
        }
    }
}

func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

/// The findings a platform made, kept for `Platform.findings` and journaled
/// as they happen under the platform's own event name. vCPU threads record
/// into it.
public final class FindingLog: Sendable {
    private let items = Mutex<[Finding]>([])
    /// The journal event each finding is recorded as, e.g. `model.fault`.
    public let event: String

    public init(event: String) {
        self.event = event
    }

    public func record(_ finding: Finding, _ fields: [(String, JSONValue)] = [], journal: Journal?) {
        items.withLock { $0.append(finding) }
        journal?.record(event, fields + [("message", .string(finding.description))])
    }

    public var all: [Finding] { items.withLock { $0 } }
}
