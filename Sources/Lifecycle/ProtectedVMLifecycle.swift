import GuestImage
import Glibc
import Ownership
import Synchronization

/// The protected-VM lifecycle on one platform: create with all memory private
/// → load → run the vCPUs on their own threads, answering share/unshare from
/// the ledger → tear down with the plan (the safe one unless the regression
/// suite asks otherwise). Teardown runs on every path: success, guest failure,
/// error, timeout and SIGINT/SIGTERM, exactly once.
///
/// Orchestration only: everything the run says is one `LifecycleEvent`
/// stream, which the journal, the report and the observer consume.
public final class ProtectedVMLifecycle: Sendable {
    private let context: RunContext
    public var platform: Platform { context.platform }
    public var journal: Journal { context.journal }
    public var options: RunOptions { context.options }

    /// Share/unshare requests journaled and shown one by one. A guest that
    /// makes more (a storm of 10^5) gets the rest counted, not listed, so
    /// the journal and the console stay readable and bounded; the counts are
    /// journaled as `memory.aggregate` (Docs/journal.md). The ledger sees
    /// every request either way.
    public static let individuallyJournaledRequests = 1000

    public init(platform: Platform, journal: Journal, options: RunOptions, guestName: String,
                observer: @escaping @Sendable (LifecycleEvent) -> Void = { _ in }) {
        context = RunContext(platform: platform, journal: journal, options: options, guestName: guestName, observer: observer)
    }

    private func emit(_ event: LifecycleEvent) { context.emit(event) }

    /// Ends the run from outside, as a timeout would: every vCPU is stopped
    /// wherever it is and the VM is torn down by the run's plan (a check
    /// tearing down a guest under load). Safe from any thread, the observer's
    /// included; before the guest runs it takes effect as soon as it does.
    public func requestStop() {
        let latch = context.shared.withLock { state -> StopLatch? in
            state.stopAll = true
            return state.latch
        }
        latch?.signal()
    }

    /// Runs the whole lifecycle and returns what happened. Never throws: every
    /// failure is in the report, after teardown.
    public func run(image: ELFImage) -> RunReport {
        let baseline = FileDescriptorAudit.openKVMDescriptors()
        var session = RunContext.Session(signals: StopSignalWatch(enabled: options.handleSignals))
        emit(.started(platform: platform.description, guest: context.shared.withLock { $0.report.guestName }, ram: options.ram,
                      vcpus: options.vcpus, plan: options.plan))
        do {
            let latch = try StopLatch()
            session.latch = latch
            context.shared.withLock { $0.latch = latch }
            if options.handleSignals { StopSignals.install(latch: latch) }
        } catch {
            context.shared.withLock { $0.report.error = error }
            return finish(baseline: baseline, &session)
        }
        defer { if options.handleSignals { StopSignals.restore() } }

        do {
            try boot(image: image, &session)
            waitForGuest(&session)
        } catch {
            emit(.failed(error))
        }
        recordPhase("ran")
        recordOwnership(.ran)
        TeardownExecution(run: context).execute(&session)
        return finish(baseline: baseline, &session)
    }

    // MARK: Boot

    private func checkStopSignal(_ session: inout RunContext.Session) throws(LifecycleError) {
        guard let signal = session.signals.take() else { return }
        emit(.interrupted(signal: signal, during: .create))
        throw .platform("interrupted by \(StopSignals.name(signal)) before the guest ran; tearing down in the safe order")
    }

    private func boot(image: ELFImage, _ session: inout RunContext.Session) throws(LifecycleError) {
        emit(.phase(.create))
        try platform.create(ram: options.ram, journal: journal)
        try checkStopSignal(&session)

        // All of guest memory becomes private in one step, before the guest
        // exists: nothing is ever shared by default.
        let range = options.ram.gfns
        let ranges = try context.shared.withLock { state throws(LifecycleError) -> Int in
            do {
                try state.ledger.addPrivateMemory(range)
            } catch {
                throw .badInput("guest memory \(range) is unusable: \(error)")
            }
            return state.ledger.rangeCount
        }
        let how = try platform.makeAllPrivate(options.ram)
        emit(.madePrivate(range, how: how, ledgerRanges: ranges))
        recordPhase("created")
        recordOwnership(.created)
        try checkStopSignal(&session)

        emit(.phase(.load))
        try platform.load(image)
        session.entryGFN = image.entry / options.ram.pageSize
        emit(.loaded(image))
        try platform.createVCPUs(count: options.vcpus, entry: image.entry)
        try checkStopSignal(&session)

        emit(.phase(.run))
        let latch = session.latch
        for index in 0..<options.vcpus {
            emit(.vcpuStarted(index))
            session.threads.append(try VCPUThread(index: index) { [self] in vcpuLoop(index, latch: latch) })
        }
    }

    // MARK: Running

    private func vcpuLoop(_ index: Int, latch: StopLatch?) {
        while true {
            let event = platform.run(vcpu: index)
            let exitedAt = monotonicNanoseconds()
            let reply: GuestReply
            switch event {
            case .console(let bytes):
                let lines = context.shared.withLock { $0.console.append(bytes, vcpu: index) }
                for line in lines { emit(.console(vcpu: index, line: line)) }
                reply = .resume
            case .memoryRequest(let request):
                reply = .memoryResult(GuestRequests(run: context).memory(request, vcpu: index, decidedBy: .vmm))
            case .memoryNotice(let request, let verdict):
                let result = GuestRequests(run: context).memory(request, vcpu: index, decidedBy: .hypervisor(verdict))
                if let disagreement = Finding.disagreement(request, hypervisor: verdict, ledger: result) {
                    emit(.violation(.finding(disagreement)))
                }
                reply = .memoryResult(result)
            case .report(let harnessReport):
                GuestRequests(run: context).report(harnessReport)
                reply = .resume
            case .stopped(let reason):
                emit(.vcpuExit(VCPUExitRecord(vcpu: index, event: event, exitedAt: exitedAt, resumedAt: nil)))
                if let rest = context.shared.withLock({ $0.console.flush(vcpu: index) }) { emit(.console(vcpu: index, line: rest)) }
                if case .halted = reason {} else { context.shared.withLock { $0.stopAll = true } }
                emit(.vcpuStopped(index, reason))
                latch?.signal()
                return
            }
            platform.complete(vcpu: index, reply: reply)
            emit(.vcpuExit(VCPUExitRecord(vcpu: index, event: event, exitedAt: exitedAt, resumedAt: monotonicNanoseconds())))
        }
    }

    /// Waits until the vCPUs stop, a stop signal arrives, or the timeout.
    private func waitForGuest(_ session: inout RunContext.Session) {
        let deadline = monotonicNanoseconds() + UInt64(max(0, options.timeoutSeconds) * 1e9)
        let vcpus = session.threads.count
        while true {
            let (finished, anyAbort) = context.shared.withLock { ($0.report.stopReasons.count == vcpus, $0.stopAll) }
            if finished || anyAbort { return }
            if let signal = session.signals.take() {
                emit(.interrupted(signal: signal, during: .run))
                return
            }
            let now = monotonicNanoseconds()
            if now >= deadline {
                emit(.timedOut(seconds: options.timeoutSeconds))
                return
            }
            let remainingMs = Int32(min(UInt64(Int32.max), (deadline - now) / 1_000_000 + 1))
            _ = session.latch?.wait(timeoutMilliseconds: remainingMs)
        }
    }

    // MARK: Accounting

    private func recordPhase(_ name: String) { context.recordPhase(name) }

    private func recordOwnership(_ point: OwnershipSnapshot.Point) { context.recordOwnership(point) }

    private func finish(baseline: [String], _ session: inout RunContext.Session) -> RunReport {
        for finding in platform.findings { emit(.violation(.finding(finding))) }
        let held = platform.openResources
        if !held.isEmpty { emit(.violation(.resourcesHeld(held))) }
        if options.auditDescriptors {
            let leaked = FileDescriptorAudit.leaked(since: baseline)
            context.shared.withLock { $0.report.leakedDescriptors = leaked }
        }
        if context.shared.withLock({ $0.report.phases.last?.0 }) != "released" { recordPhase("final") }
        TeardownExecution(run: context).noteLateSignals(&session)
        let tally = context.shared.withLock { $0.tally }
        if tally.total > 0 { emit(.requestTally(tally)) }
        let report = context.shared.withLock { $0.report }
        emit(.finished(report, descriptorsAudited: options.auditDescriptors))
        journal.close()
        return report
    }
}
