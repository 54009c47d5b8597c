import GuestImage
import Ownership
import Synchronization

/// What the parts of one run share: the platform and options, the one event
/// stream (every event goes to the report, the journal and the observer, in
/// that order), and the state the vCPU threads and the lifecycle's thread
/// both touch, under one lock.
final class RunContext: Sendable {
    let platform: Platform
    let journal: Journal
    let options: RunOptions
    let observer: @Sendable (LifecycleEvent) -> Void

    /// What vCPU threads and the lifecycle's thread share.
    struct Shared {
        var ledger = OwnershipLedger()
        var report: RunReport
        var everShared = Set<UInt64>()
        var console = ConsoleAssembler()
        /// A vCPU stopped in a way that ends the run for every vCPU, or
        /// someone asked the run to end (`ProtectedVMLifecycle.requestStop`).
        var stopAll = false
        /// What the lifecycle's thread waits on while the guest runs.
        var latch: StopLatch?
        var tally = RequestTally()
        /// Share/unshare requests so far, counted as they are decided.
        var requests = 0
    }

    /// What only the lifecycle's own thread touches during one `run`.
    struct Session {
        var threads: [VCPUThread] = []
        var latch: StopLatch?
        var entryGFN: UInt64?
        var completedSteps = Set<TeardownStep>()
        var signals: StopSignalWatch
    }

    let shared: Mutex<Shared>

    init(platform: Platform, journal: Journal, options: RunOptions, guestName: String,
         observer: @escaping @Sendable (LifecycleEvent) -> Void) {
        self.platform = platform
        self.journal = journal
        self.options = options
        self.observer = observer
        shared = Mutex(Shared(report: RunReport(platform: platform.description, guestName: guestName)))
    }

    func emit(_ event: LifecycleEvent) {
        shared.withLock { $0.report.apply(event) }
        journal.record(event)
        observer(event)
    }

    /// The ledger's runs now, for the sinks that draw ownership over time.
    func recordOwnership(_ point: OwnershipSnapshot.Point) {
        emit(.ownership(shared.withLock { OwnershipSnapshot(point, of: $0.ledger) }))
    }

    /// The ledger's page counts now, under `name`.
    func recordPhase(_ name: String) {
        emit(.ledgerPhase(name, shared.withLock { $0.ledger.counts }))
    }
}
