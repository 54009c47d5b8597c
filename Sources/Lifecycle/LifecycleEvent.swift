import GuestImage
import Ownership

/// The stages a run announces (`pvmh run` prints nothing for them; the
/// regression suite samples host memory at them).
public enum LifecyclePhase: String, Sendable {
    case create, load, run, teardown
}

/// Everything a lifecycle run says, as it happens and in order: one typed
/// stream. The journal (`journalRecords`), the run report (`RunReport.apply`)
/// and the console presenter are all built from it, so none of them decides
/// anything from another's words.
public enum LifecycleEvent: Sendable {
    case started(platform: PlatformDescription, guest: String, ram: GuestRAM, vcpus: Int, plan: TeardownPlan)
    case phase(LifecyclePhase)
    /// All of guest RAM private in one step; `how` is the platform's account.
    case madePrivate(GFNRange, how: String, ledgerRanges: Int)
    case loaded(ELFImage)
    case vcpuStarted(Int)
    case vcpuStopped(Int, VCPUStopReason)
    /// A vCPU came out of the guest with a `GuestEvent`, and went back in
    /// (every event, the final `.stopped` included; the trace draws them).
    case vcpuExit(VCPUExitRecord)
    case console(vcpu: Int, line: String)
    /// A share/unshare and the ledger's answer. `listed`: among the first
    /// `ProtectedVMLifecycle.individuallyJournaledRequests`; the rest are counted
    /// in `requestTally` instead of being journaled and shown one by one.
    /// `vcpu` asked; `decidedBy` says whether the VMM's ledger decided or the
    /// hypervisor did and the ledger followed.
    case memory(MemoryRequest, Result<Void, MemoryRequestRejection>, pageSize: UInt64, listed: Bool, vcpu: Int, decidedBy: MemoryDecider)
    /// The host read back pages the guest relinquished, just after the
    /// ledger gave them to the host: `zeroPages` of `range` were all zero.
    case relinquishChecked(GFNRange, zeroPages: UInt64)
    /// Before reclaim, on a platform that hears of changes after the fact
    /// (pKVM): pages the ledger had as the host's (relinquished) that fault
    /// for the host, because the guest touched them again and the hypervisor
    /// donated them back without a word. The ledger takes them as private.
    case redonated(gfns: [UInt64])
    /// The ledger's runs at a point of the run (`OwnershipSnapshot` says which).
    case ownership(OwnershipSnapshot)
    /// The guest passed the number of requests that are listed one by one.
    case requestStorm(after: Int)
    case check(id: UInt64, passed: Bool, value: Int64)
    case guestDone(status: UInt64)
    /// The message the host read from a shared page.
    case message(gpa: UInt64, text: String)
    case violation(Violation)
    /// A stop signal acted on (during boot or run: the run is interrupted).
    case interrupted(signal: Int32, during: LifecyclePhase)
    /// Stop signals that arrived once teardown had started: they change nothing.
    case signalsDuringTeardown(first: Int32?, count: Int)
    case timedOut(seconds: Double)
    case failed(LifecycleError)
    /// What a host read of a private page did before reclaim.
    case isolationProbe(gfn: UInt64, HostAccess)
    /// Before reclaim, the ledger against the platform's own record of host
    /// access, over every page the platform can observe.
    case agreement(HostAccessAgreement)
    /// Pages whose host access contradicted a ledger that hears of changes
    /// after the fact (pKVM), one per vCPU stopped between its call and its
    /// claim at most (`bound`): named, not judged.
    case ledgerLag(gfns: [UInt64], bound: Int)
    /// What reclaim did with guest memory: pages discarded (private when
    /// the guest stopped) and pages kept for the host (shared then).
    case reclaimed(discardedPrivate: UInt64, keptShared: UInt64)
    /// Every reclaimed private page proven zero (file holes) or read back.
    case zeroCheck(ZeroCheck)
    case teardownStep(TeardownRecord)
    /// The ledger's page counts at a named point ("created", "ran", …).
    case ledgerPhase(String, PageCounts)
    /// Requests past the listed ones, counted.
    case requestTally(RequestTally)
    /// The run is over: the verdict and the summary.
    case finished(RunReport, descriptorsAudited: Bool)

    /// The one line `pvmh run` prints on stderr for this event, if any.
    public var warning: String? {
        switch self {
        case .failed(let error):
            error.description
        case .requestStorm(let after):
            "the guest made more than \(after) share/unshare requests: the rest are answered and counted, not listed (journal: memory.aggregate)"
        case .violation(let violation):
            switch violation {
            case .unknownReport, .messageRefused, .guestSawCorruption: violation.description
            default: nil
            }
        case .interrupted(let signal, .run):
            "\(StopSignals.name(signal)) received: stopping the guest and tearing down in the safe order"
        case .signalsDuringTeardown(let first, _):
            "\(first.map(StopSignals.name) ?? "another stop signal") received during teardown: teardown is already under way and runs exactly once"
        case .timedOut(let seconds):
            "the guest did not stop within \(seconds) s (--timeout): stopping it"
        default:
            nil
        }
    }
}

/// Memory requests past the listed ones, counted by operation and answer.
public struct RequestTally: Equatable, Sendable {
    public var shareOK = 0, shareRejected = 0, unshareOK = 0, unshareRejected = 0
    public var relinquishOK = 0, relinquishRejected = 0, donateOK = 0, donateRejected = 0
    public var firstRejection: String?

    public init() {}

    public var total: Int { shareOK + shareRejected + unshareOK + unshareRejected + relinquishOK + relinquishRejected + donateOK + donateRejected }

    mutating func count(_ request: MemoryRequest, _ outcome: Result<Void, MemoryRequestRejection>) {
        let accepted = (try? outcome.get()) != nil
        switch request.operation {
        case .share: if accepted { shareOK += 1 } else { shareRejected += 1 }
        case .unshare: if accepted { unshareOK += 1 } else { unshareRejected += 1 }
        case .relinquish: if accepted { relinquishOK += 1 } else { relinquishRejected += 1 }
        case .donate: if accepted { donateOK += 1 } else { donateRejected += 1 }
        }
        if case .failure(let why) = outcome, firstRejection == nil {
            firstRejection = "\(request.operation.rawValue) gpa 0x\(String(request.gpa, radix: 16)): \(why)"
        }
    }

    /// The counts as journal and trace fields.
    public var fields: [(String, Int)] {
        [("share_ok", shareOK), ("share_rejected", shareRejected), ("unshare_ok", unshareOK), ("unshare_rejected", unshareRejected),
         ("relinquish_ok", relinquishOK), ("relinquish_rejected", relinquishRejected), ("donate_ok", donateOK), ("donate_rejected", donateRejected)]
    }
}
