import Ownership

/// How the lifecycle answers what a running guest asks of the host: a
/// share/unshare (the ledger decides, the platform enforces), and the
/// harness reports (a message to read, a check, done). Called on vCPU threads.
struct GuestRequests {
    let run: RunContext

    /// Validates a share/unshare against the ledger, applies it, reflects it
    /// into the platform and journals it. Rejections leave the ledger as it was.
    func memory(_ request: MemoryRequest, vcpu: Int, decidedBy: MemoryDecider) -> Result<Void, MemoryRequestRejection> {
        let pageSize = run.options.ram.pageSize
        let limit = ProtectedVMLifecycle.individuallyJournaledRequests
        let (result, count, enforcement, snapshot): (Result<Void, MemoryRequestRejection>, Int, Violation?, OwnershipSnapshot?) = run.shared.withLock { state in
            let outcome = MemoryRequestPolicy.apply(request, pageSize: pageSize, to: &state.ledger)
            var enforcement: Violation?
            if case .success = outcome {
                let range = GFNRange(start: request.gpa / pageSize, count: request.pages)
                do {
                    try run.platform.reflect(request.operation, range)
                } catch {
                    enforcement = .enforcementFailed(request.operation, range, error: "\(error)")
                }
                if request.operation == .share { state.everShared.formUnion(range.start..<range.end) }
            }
            state.requests += 1
            let count = state.requests
            if count > limit { state.tally.count(request, outcome) }
            // Taken with the change, under the same lock, for listed requests
            // only: a storm's picture stays bounded like its journal.
            let snapshot = count <= limit && (try? outcome.get()) != nil
                ? OwnershipSnapshot(.request(request, vcpu: vcpu), of: state.ledger) : nil
            return (outcome, count, enforcement, snapshot)
        }
        if let enforcement { run.emit(.violation(enforcement)) }
        if count == limit + 1 { run.emit(.requestStorm(after: limit)) }
        run.emit(.memory(request, result, pageSize: pageSize, listed: count <= limit, vcpu: vcpu, decidedBy: decidedBy))
        if let snapshot { run.emit(.ownership(snapshot)) }
        if request.operation == .relinquish, case .success = result {
            checkRelinquished(GFNRange(start: request.gpa / pageSize, count: request.pages))
        }
        return result
    }

    /// A relinquished page is the host's now, and pKVM zeroed it first: the
    /// host reads every byte back, page by page, to back that claim.
    func checkRelinquished(_ range: GFNRange) {
        let pageSize = run.options.ram.pageSize
        var zero: UInt64 = 0
        for gfn in range.start..<range.end {
            do {
                let bytes = try run.platform.readHostMemory(gpa: gfn * pageSize, length: Int(pageSize))
                if let offset = bytes.firstIndex(where: { $0 != 0 }) {
                    run.emit(.violation(.notZeroAfterRelinquish(gfn: gfn, offset: offset, byte: bytes[offset])))
                } else {
                    zero += 1
                }
            } catch {
                run.emit(.violation(.relinquishedPageUnreadable(gfn: gfn, error: error.description)))
            }
        }
        run.emit(.relinquishChecked(range, zeroPages: zero))
    }

    func report(_ harnessReport: HarnessReport) {
        switch harnessReport {
        case .message(let gpa, let length):
            switch readSharedMessage(gpa: gpa, length: length) {
            case .success(let text): run.emit(.message(gpa: gpa, text: text))
            case .failure(let refusal): run.emit(.violation(.messageRefused(refusal)))
            }
        case .check(let id, let passed, let value):
            run.emit(.check(id: id, passed: passed, value: value))
        case .done(let status):
            run.emit(.guestDone(status: status))
        case .corrupted(let gpa, let expected, let found):
            run.emit(.violation(.guestSawCorruption(gpa: gpa, expected: expected, found: found, pageSize: run.options.ram.pageSize)))
        case .unknown(let code, let arguments):
            run.emit(.violation(.unknownReport(code: code, arguments: arguments)))
        }
    }

    /// The host reads the guest's message only if every page it spans is
    /// shared: touching a private page would be exactly the host bug pKVM
    /// turns into a fault.
    func readSharedMessage(gpa: UInt64, length: UInt64) -> Result<String, MessageRefusal> {
        let pageSize = run.options.ram.pageSize
        return run.shared.withLock { state in
            guard length > 0, length <= 4096, gpa.addingReportingOverflow(length).overflow == false else {
                return .failure(.unusableLength(gpa: gpa, length: length))
            }
            let first = gpa / pageSize, last = (gpa + length - 1) / pageSize
            for gfn in first...last where state.ledger.state(of: gfn) != .shared {
                return .failure(.notShared(gfn: gfn, state: state.ledger.state(of: gfn)))
            }
            do {
                return .success(String(decoding: try run.platform.readHostMemory(gpa: gpa, length: Int(length)), as: UTF8.self))
            } catch {
                return .failure(.readFailed("\(error)"))
            }
        }
    }
}
