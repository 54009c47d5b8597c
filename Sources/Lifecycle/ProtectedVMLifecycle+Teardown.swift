import Ownership

/// Teardown: the plan's steps in order, each timed and journaled with the
/// hazard of running it where it stands, and the checks behind "private" and
/// "zeroed" around reclaim. On the lifecycle's own thread, after the vCPUs run.
extension ProtectedVMLifecycle {
    func executeTeardown(_ session: inout Session) {
        emit(.phase(.teardown))
        for step in options.plan.steps {
            let hazard = step.safetyRequirements.first { !session.completedSteps.contains($0.0) }
                .map { "\(step.rawValue) before \($0.0.rawValue): \($0.1)" }
            let start = monotonicNanoseconds()
            var detail = ""
            var failure: String?
            do {
                detail = try perform(step, &session)
            } catch {
                failure = error.description
            }
            session.completedSteps.insert(step)
            noteLateSignals(&session)
            emit(.teardownStep(TeardownRecord(step: step, startNanoseconds: start, durationNanoseconds: monotonicNanoseconds() - start,
                                              error: failure, hazard: hazard, detail: detail)))
            recordOwnership(.teardown(step))
        }
    }

    func noteLateSignals(_ session: inout Session) {
        if let late = session.signals.late() { emit(.signalsDuringTeardown(first: late.first, count: late.count)) }
    }

    func perform(_ step: TeardownStep, _ session: inout Session) throws(LifecycleError) -> String {
        switch step {
        case .stopVCPUs:
            return try VCPUStopper.stop(session.threads, platform: platform, timeoutNanoseconds: options.vcpuStopTimeoutNanoseconds,
                                        running: { index in self.shared.withLock { $0.report.stopReasons[index] == nil } })
        case .reclaim:
            let isolated = verifyIsolationBeforeReclaim(session)
            let (reclaimed, everShared) = shared.withLock { ($0.ledger.reclaimAll(), $0.everShared) }
            try platform.reclaim(reclaimed)
            let privatePages = reclaimed.formerlyPrivate.reduce(0) { $0 + $1.count }
            let sharedPages = reclaimed.formerlyShared.reduce(0) { $0 + $1.count }
            let verified = verifyDiscarded(reclaimed, everShared: everShared, entryGFN: session.entryGFN)
            recordPhase("reclaimed")
            return "\(isolated) private pages verified unreadable by the host first; \(privatePages) private pages discarded, \(sharedPages) shared pages kept, \(verified) verified zero"
        case .unbind:
            try platform.unbind()
            return step.meaning(on: platform.description.traits.flavour)
        case .release:
            try platform.release()
            shared.withLock { $0.ledger.releaseAll() }
            recordPhase("released")
            return step.meaning(on: platform.description.traits.flavour)
        case .destroy:
            try platform.destroy()
            return step.meaning(on: platform.description.traits.flavour)
        }
    }

    /// Before reclaim, the ledger's claim that the host cannot touch private
    /// pages is checked against what the platform enforces: a host read of a
    /// private page must fault (probed without crashing the VMM).
    func verifyIsolationBeforeReclaim(_ session: Session) -> Int {
        let candidates = shared.withLock { state in
            ReclaimVerification.isolationCandidates(everShared: state.everShared, entryGFN: session.entryGFN) {
                state.ledger.state(of: $0) == .private
            }
        }
        var verified = 0
        for gfn in candidates {
            let access = platform.probeHostRead(gpa: gfn * options.ram.pageSize)
            if let violation = ReclaimVerification.violation(gfn: gfn, access) { emit(.violation(violation)) } else { verified += 1 }
            emit(.isolationProbe(gfn: gfn, access))
        }
        return verified
    }

    /// Pages the guest owned must read zero once reclaimed.
    func verifyDiscarded(_ reclaimed: Reclaim, everShared: Set<UInt64>, entryGFN: UInt64?) -> Int {
        let pageSize = options.ram.pageSize
        let candidates = ReclaimVerification.zeroCandidates(reclaimed, everShared: everShared, entryGFN: entryGFN)
        var verified = 0
        for gfn in candidates {
            let reading = Result(catching: { () throws(LifecycleError) in try platform.readHostMemory(gpa: gfn * pageSize, length: Int(pageSize)) })
            if let violation = ReclaimVerification.violation(gfn: gfn, reading: reading) { emit(.violation(violation)) } else { verified += 1 }
        }
        emit(.zeroCheck(verified: verified, checked: candidates.count))
        return verified
    }
}
