import Ownership

/// Teardown: the plan's steps in order, each timed and journaled with the
/// hazard of running it where it stands, and the checks behind "private" and
/// "zeroed" around reclaim. On the lifecycle's own thread, after the vCPUs run.
struct TeardownExecution {
    let run: RunContext

    func execute(_ session: inout RunContext.Session) {
        run.emit(.phase(.teardown))
        for step in run.options.plan.steps {
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
            run.emit(.teardownStep(TeardownRecord(step: step, startNanoseconds: start, durationNanoseconds: monotonicNanoseconds() - start,
                                              error: failure, hazard: hazard, detail: detail)))
            run.recordOwnership(.teardown(step))
        }
    }

    func noteLateSignals(_ session: inout RunContext.Session) {
        if let late = session.signals.late() { run.emit(.signalsDuringTeardown(first: late.first, count: late.count)) }
    }

    func perform(_ step: TeardownStep, _ session: inout RunContext.Session) throws(LifecycleError) -> String {
        switch step {
        case .stopVCPUs:
            return try VCPUStopper.stop(session.threads, platform: run.platform, timeoutNanoseconds: run.options.vcpuStopTimeoutNanoseconds,
                                        running: { index in run.shared.withLock { $0.report.stopReasons[index] == nil } })
        case .reclaim:
            var inFlight = InFlightAllowance(run)
            let relinquishedProbe = probeRelinquished()
            let redonated = relinquishedProbe?.redonated.count ?? 0
            let isolated = verifyIsolationBeforeReclaim(session, inFlight: &inFlight)
            let agreement = verifyAgreementBeforeReclaim(probedPrivate: isolated.probes, probedHost: relinquishedProbe?.stillHost,
                                                         inFlight: &inFlight)
            let reclaimed = run.shared.withLock { $0.ledger.reclaimAll() }
            try run.platform.reclaim(reclaimed)
            let privatePages = reclaimed.formerlyPrivate.reduce(0) { $0 + $1.count }
            let sharedPages = reclaimed.formerlyShared.reduce(0) { $0 + $1.count }
            let relinquishedPages = reclaimed.relinquished.reduce(0) { $0 + $1.count }
            let relinquished = (relinquishedPages > 0 ? ", \(relinquishedPages) relinquished by the guest earlier (the host's already)" : "")
                + (redonated > 0 ? " (\(redonated) relinquished page\(redonated == 1 ? " was" : "s were") the guest's again: pKVM donated \(redonated == 1 ? "it" : "them") back on a touch)" : "")
            run.emit(.reclaimed(discardedPrivate: UInt64(privatePages), keptShared: UInt64(sharedPages)))
            let zero = verifyDiscarded(reclaimed)
            run.recordPhase("reclaimed")
            if !inFlight.excused.isEmpty { run.emit(.ledgerLag(gfns: inFlight.excused.sorted(), bound: inFlight.bound)) }
            let lag = inFlight.summary.map { "; \($0)" } ?? ""
            return "\(isolated.summary); \(agreement.summary)\(lag); \(privatePages) private pages discarded, \(sharedPages) shared pages kept\(relinquished); \(zero.verifiedPages) of \(zero.pages) discarded pages verified zero (\(zero.holePages) as file holes, \(zero.bytesRead / 1024) KiB read back)\(zero.hostDataPages > 0 ? "; \(zero.hostDataPages) never taken by the hypervisor hold only what the host wrote" : "")"
        case .unbind:
            try run.platform.unbind()
            return step.meaning(on: run.platform.description.traits.flavour)
        case .release:
            try run.platform.release()
            run.shared.withLock { $0.ledger.releaseAll() }
            run.recordPhase("released")
            return step.meaning(on: run.platform.description.traits.flavour)
        case .destroy:
            try run.platform.destroy()
            return step.meaning(on: run.platform.description.traits.flavour)
        }
    }

    /// Before reclaim, the ledger's claim that the host cannot touch private
    /// pages is checked against what the platform enforces: a host read of a
    /// private page must fault (probed without crashing the VMM). Every page
    /// the guest used is probed, plus a seeded sample where privacy holds
    /// from creation.
    func verifyIsolationBeforeReclaim(_ session: RunContext.Session, inFlight: inout InFlightAllowance) -> IsolationCheck {
        let seed = run.options.verificationSeed
        let (used, sampled) = run.shared.withLock { state in
            ReclaimVerification.isolationCandidates(everShared: state.everShared, entryGFN: session.entryGFN,
                                                    in: state.ledger,
                                                    sampleOthers: run.platform.description.traits.privateFromCreation, seed: seed)
        }
        var check = IsolationCheck(used: used.count, sampled: sampled.count, seed: seed)
        let gfns = used + sampled
        let accesses = run.platform.probeHostReads(gpas: gfns.map { $0 * run.options.ram.pageSize })
        for (gfn, access) in zip(gfns, accesses) {
            check.probes.append((gfn, access))
            if let violation = ReclaimVerification.violation(gfn: gfn, access) {
                if inFlight.excuse(gfn) { continue }
                run.emit(.violation(violation))
            } else {
                check.unreadable += 1
            }
            run.emit(.isolationProbe(gfn: gfn, access))
        }
        return check
    }

    /// What one host read of every relinquished page found (pKVM).
    struct RelinquishedProbe {
        /// Pages that faulted: the guest's again, now private in the ledger.
        var redonated: [UInt64] = []
        /// The reads of the pages still the host's, for the agreement.
        var stillHost: [(UInt64, HostAccess)] = []
    }

    /// On a platform that hears of changes after the fact (pKVM), a guest
    /// that touches a page it relinquished takes a stage-2 fault and gets it
    /// donated again, and the VMM hears nothing: the ledger still has it as
    /// the host's. Every such page is read by the host once; one that faults
    /// is the guest's again, so the ledger takes it as private, and from
    /// there the isolation, agreement and zero checks cover it like any
    /// other. nil where the platform hears of every change (nothing read).
    func probeRelinquished() -> RelinquishedProbe? {
        guard run.platform.description.traits.learnsAfterTheFact else { return nil }
        let pageSize = run.options.ram.pageSize
        let host = run.shared.withLock { $0.ledger.ranges(in: .host) }.flatMap { $0.start..<$0.end }
        var probe = RelinquishedProbe()
        guard !host.isEmpty else { return probe }
        for (gfn, access) in zip(host, run.platform.probeHostReads(gpas: host.map { $0 * pageSize })) {
            if case .faulted = access { probe.redonated.append(gfn) } else { probe.stillHost.append((gfn, access)) }
        }
        guard !probe.redonated.isEmpty else { return probe }
        run.shared.withLock { state in
            for gfn in probe.redonated { try? state.ledger.donate(GFNRange(start: gfn, count: 1)) }
        }
        run.emit(.redonated(gfns: probe.redonated))
        return probe
    }

    /// With the vCPUs stopped, the ledger must agree with what the platform
    /// itself records about host access to every page it can observe (the
    /// host view's protections, the model's owner table). Where only probes
    /// can tell (pKVM), every shared page is probed and must be readable,
    /// as must every relinquished page (read already by
    /// `probeRelinquished`: `probedHost`); the private pages are the
    /// isolation probe's (`probedPrivate`, whose readable pages it has
    /// already reported).
    func verifyAgreementBeforeReclaim(probedPrivate: [(UInt64, HostAccess)], probedHost: [(UInt64, HostAccess)]?,
                                      inFlight: inout InFlightAllowance) -> HostAccessAgreement {
        // Observed under the ledger's lock: a vCPU still running (a plan that
        // reclaims before stopping them) cannot change either in between.
        var agreement: HostAccessAgreement
        if let observed = run.shared.withLock({ state in
            run.platform.observeHostAccess().map { HostAccessAgreement($0, ledger: state.ledger) }
        }) {
            agreement = observed
        } else {
            agreement = HostAccessAgreement(source: "host reads (every shared and relinquished page, and the private pages probed above)")
            for (gfn, access) in probedPrivate where !inFlight.excused.contains(gfn) {
                agreement.count(gfn: gfn, state: .private, access, listing: false)
            }
            let (shared, relinquished) = run.shared.withLock { state in
                (state.ledger.ranges(in: .shared).flatMap { $0.start..<$0.end }, state.ledger.ranges(in: .host).flatMap { $0.start..<$0.end })
            }
            let pageSize = run.options.ram.pageSize
            for (gfn, access) in zip(shared, run.platform.probeHostReads(gpas: shared.map { $0 * pageSize })) {
                if case .readable = access {} else if inFlight.excuse(gfn) { continue }
                agreement.count(gfn: gfn, state: .shared, access)
            }
            let hostReads = probedHost ?? Array(zip(relinquished, run.platform.probeHostReads(gpas: relinquished.map { $0 * pageSize })))
            for (gfn, access) in hostReads {
                agreement.count(gfn: gfn, state: .host, access)
            }
        }
        for violation in agreement.violations { run.emit(.violation(violation)) }
        if agreement.disagreeing > 0, agreement.violations.count == HostAccessAgreement.listed {
            run.emit(.violation(.moreDisagreements(listed: UInt64(agreement.violations.count), total: agreement.disagreeing)))
        }
        run.emit(.agreement(agreement))
        return agreement
    }

    /// Where the VMM hears of ownership changes after the fact (pKVM), the
    /// pages whose host access contradicts the ledger because a vCPU was
    /// stopped between its call and its claim: at most one per vCPU stopped
    /// mid-run. Each such page is counted and named, never judged; one more
    /// than the bound allows is a violation like any other.
    struct InFlightAllowance {
        let bound: Int
        private(set) var excused: Set<UInt64> = []

        init(_ run: RunContext) {
            let midRun = run.shared.withLock { state in
                state.report.stopReasons.values.filter { if case .stopRequested = $0 { true } else { false } }.count
            }
            bound = run.platform.description.traits.learnsAfterTheFact ? midRun : 0
        }

        mutating func excuse(_ gfn: UInt64) -> Bool {
            guard excused.count < bound else { return false }
            excused.insert(gfn)
            return true
        }

        var summary: String? {
            guard !excused.isEmpty else { return nil }
            let pages = excused.sorted().map { "0x\(String($0, radix: 16))" }.joined(separator: ", ")
            return "\(excused.count) page\(excused.count == 1 ? "" : "s") (gfn \(pages)) changed hands at EL2 after the last claim of a vCPU stopped mid-call (the ledger hears after the fact; at most one per vCPU, \(bound) stopped mid-run)"
        }
    }

    /// How many private pages the isolation probe covered, and how chosen.
    struct IsolationCheck {
        var used: Int
        var sampled: Int
        var seed: UInt64
        var unreadable = 0
        /// Each probed page and what the read did.
        var probes: [(UInt64, HostAccess)] = []

        var summary: String {
            let sample = sampled > 0 ? ", \(sampled) sampled with seed \(seed)" : ""
            return "\(unreadable) of \(used + sampled) probed private pages unreadable by the host first (\(used) the guest used\(sample))"
        }
    }

    /// Every page the guest owned must read zero once reclaimed: all of
    /// them are checked, not a sample (a file hole counts as zero, every
    /// other page is read back); the first few failures become violations.
    func verifyDiscarded(_ reclaimed: Reclaim) -> ZeroCheck {
        let check = run.platform.checkZero(reclaimed.formerlyPrivate, pageSize: run.options.ram.pageSize)
        for violation in check.violations { run.emit(.violation(violation)) }
        if check.failedPages > UInt64(check.violations.count) {
            run.emit(.violation(.morePagesNotZero(listed: UInt64(check.violations.count), total: check.failedPages)))
        }
        run.emit(.zeroCheck(check))
        return check
    }
}
