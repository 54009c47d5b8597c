import GuestImage
import Glibc
import Ownership

/// The protected-VM lifecycle on one platform: create with all memory private
/// → load → run the vCPUs on their own threads, answering share/unshare from
/// the ledger → tear down with the plan (the safe one unless the regression
/// suite asks otherwise). Teardown runs on every path: success, guest failure,
/// error, timeout and SIGINT/SIGTERM, exactly once.
public final class ProtectedVMLifecycle: @unchecked Sendable {
    public let platform: Platform
    public let journal: Journal
    public let options: RunOptions
    private let observer: @Sendable (RunNotice) -> Void

    // Shared with vCPU threads, guarded by `lock`.
    private var lock = pthread_mutex_t()
    private var ledger = OwnershipLedger()
    private var report: RunReport
    private var everShared = Set<UInt64>()
    private var consoleBuffers: [Int: [UInt8]] = [:]
    private var stopAll = false

    private var threads: [VCPUThread] = []
    private var latch: StopLatch?
    private var entryGFN: UInt64?
    private var completedSteps = Set<TeardownStep>()
    /// Stop signals already acted on or journaled (StopSignals.count counts them all).
    private var acknowledgedSignals = 0

    /// Share/unshare requests journaled and shown one by one. A guest that
    /// makes more (a storm of 10^5) gets the rest counted, not listed, so
    /// the journal and the console stay readable and bounded; the counts are
    /// journaled as `memory.aggregate` (Docs/journal.md). The ledger sees
    /// every request either way.
    public static let individuallyJournaledRequests = 1000
    private var tally = RequestTally()  // guarded by `lock`

    public init(platform: Platform, journal: Journal, options: RunOptions, guestName: String,
                observer: @escaping @Sendable (RunNotice) -> Void = { _ in }) {
        self.platform = platform
        self.journal = journal
        self.options = options
        self.observer = observer
        report = RunReport(platform: platform.description, guestName: guestName)
        pthread_mutex_init(&lock, nil)
    }

    deinit { pthread_mutex_destroy(&lock) }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return try body()
    }

    /// Runs the whole lifecycle and returns what happened. Never throws: every
    /// failure is in the report, after teardown.
    public func run(image: ELFImage) -> RunReport {
        let baseline = FileDescriptorAudit.openKVMDescriptors()
        journal.record("run.start", [
            ("platform", .string(platform.description.id)), ("guest", .string(report.guestName)),
            ("memory_bytes", .uint(options.ram.size)), ("vcpus", .int(Int64(options.vcpus))),
            ("plan", .string(options.plan.description)),
        ])
        do {
            latch = try StopLatch()
        } catch {
            report.error = error
            finish(baseline: baseline)
            return report
        }
        if options.handleSignals, let latch { StopSignals.install(latch: latch) }
        defer { if options.handleSignals { StopSignals.restore() } }

        do {
            try boot(image: image)
            waitForGuest()
        } catch {
            report.error = error
            journal.record("error", [("message", .string(error.description))])
            observer(.warning(error.description))
        }
        recordPhase("ran")
        executeTeardown()
        finish(baseline: baseline)
        return report
    }

    // MARK: Boot

    private func checkStopSignal() throws(LifecycleError) {
        if let signal = StopSignals.received, options.handleSignals {
            report.interruptedBy = signal
            acknowledgedSignals = StopSignals.count
            journal.record("signal", [("signal", .string(StopSignals.name(signal))), ("during", "boot")])
            throw .platform("interrupted by \(StopSignals.name(signal)) before the guest ran; tearing down in the safe order")
        }
    }

    private func boot(image: ELFImage) throws(LifecycleError) {
        observer(.phase("create"))
        try platform.create(ram: options.ram, journal: journal)
        try checkStopSignal()

        // All of guest memory becomes private in one step, before the guest
        // exists: nothing is ever shared by default.
        let range = options.ram.gfns
        do {
            try ledger.addPrivateMemory(range)
        } catch {
            throw .badInput("guest memory \(range) is unusable: \(error)")
        }
        let how = try platform.makeAllPrivate(options.ram)
        journal.record("memory.private", [
            ("gfn", .uint(range.start)), ("pages", .uint(range.count)), ("how", .string(how)),
            ("ranges", .int(Int64(ledger.rangeCount))),
        ])
        recordPhase("created")
        try checkStopSignal()

        observer(.phase("load"))
        try platform.load(image)
        entryGFN = image.entry / options.ram.pageSize
        journal.record("load", [
            ("entry", .uint(image.entry)),
            ("segments", .array(image.segments.map { segment in
                .object([("gpa", .uint(segment.guestPhysicalAddress)), ("file_bytes", .uint(UInt64(segment.fileBytes.count))),
                         ("mem_bytes", .uint(segment.memorySize))])
            })),
        ])
        try platform.createVCPUs(count: options.vcpus, entry: image.entry)
        try checkStopSignal()

        observer(.phase("run"))
        for index in 0..<options.vcpus {
            journal.record("vcpu.start", [("vcpu", .int(Int64(index)))])
            let thread = try VCPUThread(index: index) { [self] in vcpuLoop(index) }
            threads.append(thread)
        }
    }

    // MARK: Running

    private func vcpuLoop(_ index: Int) {
        while true {
            let event = platform.run(vcpu: index)
            let reply: GuestReply
            switch event {
            case .console(let bytes):
                handleConsole(vcpu: index, bytes)
                reply = .resume
            case .memoryRequest(let request):
                reply = .memoryResult(handleMemoryRequest(request))
            case .report(let harnessReport):
                handleReport(harnessReport)
                reply = .resume
            case .stopped(let reason):
                flushConsole(vcpu: index)
                locked {
                    report.stopReasons[index] = reason
                    if case .halted = reason {} else { stopAll = true }
                }
                journal.record("vcpu.stop", [("vcpu", .int(Int64(index))), ("reason", .string(reason.description))])
                latch?.signal()
                return
            }
            platform.complete(vcpu: index, reply: reply)
        }
    }

    private func handleConsole(vcpu: Int, _ bytes: [UInt8]) {
        var lines: [String] = []
        locked {
            var buffer = consoleBuffers[vcpu, default: []]
            for byte in bytes {
                if byte == UInt8(ascii: "\n") {
                    lines.append(String(decoding: buffer, as: UTF8.self))
                    buffer.removeAll(keepingCapacity: true)
                } else if byte != UInt8(ascii: "\r") {
                    buffer.append(byte)
                    if buffer.count >= 4096 {  // a guest that never ends its line
                        lines.append(String(decoding: buffer, as: UTF8.self))
                        buffer.removeAll(keepingCapacity: true)
                    }
                }
            }
            consoleBuffers[vcpu] = buffer
            report.consoleLines += lines
        }
        for line in lines {
            journal.record("console", [("vcpu", .int(Int64(vcpu))), ("text", .string(line))])
            observer(.consoleLine(vcpu: vcpu, line))
        }
    }

    private func flushConsole(vcpu: Int) {
        let pending: [UInt8] = locked {
            let pending = consoleBuffers[vcpu] ?? []
            consoleBuffers[vcpu] = []
            return pending
        }
        if !pending.isEmpty { handleConsole(vcpu: vcpu, pending + [UInt8(ascii: "\n")]) }
    }

    /// Validates a share/unshare against the ledger, applies it, reflects it
    /// into the platform and journals it. Rejections leave the ledger as it was.
    func handleMemoryRequest(_ request: MemoryRequest) -> Result<Void, MemoryRequestRejection> {
        let pageSize = options.ram.pageSize
        let (result, individually, stormStarts): (Result<Void, MemoryRequestRejection>, Bool, Bool) = locked {
            report.memoryRequests += 1
            let outcome = MemoryRequestPolicy.apply(request, pageSize: pageSize, to: &ledger)
            if case .success = outcome {
                let range = GFNRange(start: request.gpa / pageSize, count: request.pages)
                do {
                    try platform.reflect(request.operation, range)
                } catch {
                    report.violations.append("could not enforce \(request.operation.rawValue) of \(range): \(error)")
                }
                if request.operation == .share {
                    for gfn in range.start..<range.end { everShared.insert(gfn) }
                }
            } else {
                report.rejectedRequests += 1
            }
            let individually = report.memoryRequests <= Self.individuallyJournaledRequests
            if !individually { tally.count(request, outcome) }
            return (outcome, individually, report.memoryRequests == Self.individuallyJournaledRequests + 1)
        }
        if stormStarts {
            let text = "the guest made more than \(Self.individuallyJournaledRequests) share/unshare requests: the rest are answered and counted, not listed (journal: memory.aggregate)"
            journal.record("memory.storm", [("after", .int(Int64(Self.individuallyJournaledRequests))), ("message", .string(text))])
            observer(.warning(text))
        }
        guard individually else { return result }
        var fields: [(String, JSONValue)] = [
            ("gfn", .uint(request.gpa / pageSize)), ("gpa", .uint(request.gpa)), ("pages", .uint(request.pages)),
            ("transport", .string(request.transport)),
        ]
        switch result {
        case .success: fields.append(("result", "ok"))
        case .failure(let why):
            fields.append(("result", "rejected"))
            fields.append(("reason", .string(why.description)))
        }
        journal.record(request.operation.rawValue, fields)
        observer(.memory(request, result))
        return result
    }

    private func handleReport(_ harnessReport: HarnessReport) {
        switch harnessReport {
        case .message(let gpa, let length):
            readSharedMessage(gpa: gpa, length: length)
        case .check(let id, let passed, let value):
            locked { report.checks.append((id, passed, value)) }
            journal.record("check", [("id", .uint(id)), ("passed", .bool(passed)), ("value", .int(value))])
            observer(.check(id: id, passed: passed, value: value))
        case .done(let status):
            locked { report.guestStatus = status }
            journal.record("guest.done", [("status", .uint(status))])
        case .unknown(let code, let arguments):
            let text = "the guest sent unknown harness report \(code) (arguments \(arguments)); ignored"
            locked { report.violations.append(text) }
            journal.record("guest.unknown-report", [("code", .uint(code))])
            observer(.warning(text))
        }
    }

    /// The host reads the guest's message only if every page it spans is
    /// shared: touching a private page would be exactly the host bug pKVM
    /// turns into a fault.
    private func readSharedMessage(gpa: UInt64, length: UInt64) {
        let pageSize = options.ram.pageSize
        let text: Result<String, HostReadRefusal> = locked {
            guard length > 0, length <= 4096, gpa.addingReportingOverflow(length).overflow == false else {
                return .failure(HostReadRefusal("the guest's message at gpa 0x\(String(gpa, radix: 16)) has an unusable length \(length)"))
            }
            let first = gpa / pageSize, last = (gpa + length - 1) / pageSize
            for gfn in first...last where ledger.state(of: gfn) != .shared {
                let state = ledger.state(of: gfn).map(\.rawValue) ?? "outside guest memory"
                return .failure(HostReadRefusal("the guest asked the host to read gfn 0x\(String(gfn, radix: 16)), which is \(state); the host refused to touch it"))
            }
            do {
                let bytes = try platform.readHostMemory(gpa: gpa, length: Int(length))
                return .success(String(decoding: bytes, as: UTF8.self))
            } catch {
                return .failure(HostReadRefusal("reading the shared message failed: \(error)"))
            }
        }
        switch text {
        case .success(let message):
            locked { report.messages.append(message) }
            journal.record("message", [("gpa", .uint(gpa)), ("text", .string(message))])
            observer(.sharedMessage(gpa: gpa, message))
        case .failure(let refusal):
            let why = refusal.reason
            locked { report.violations.append(why) }
            journal.record("violation", [("message", .string(why))])
            observer(.warning(why))
        }
    }

    /// Waits until the vCPUs stop, a stop signal arrives, or the timeout.
    private func waitForGuest() {
        let deadline = monotonicNanoseconds() + UInt64(max(0, options.timeoutSeconds) * 1e9)
        while true {
            let (finished, anyAbort) = locked { (report.stopReasons.count == threads.count, stopAll) }
            if finished || anyAbort { return }
            if let signal = StopSignals.received, options.handleSignals {
                report.interruptedBy = signal
                acknowledgedSignals = StopSignals.count
                journal.record("signal", [("signal", .string(StopSignals.name(signal))), ("during", "run")])
                observer(.warning("\(StopSignals.name(signal)) received: stopping the guest and tearing down in the safe order"))
                return
            }
            let now = monotonicNanoseconds()
            if now >= deadline {
                report.timedOut = true
                journal.record("timeout", [("seconds", .string(String(options.timeoutSeconds)))])
                observer(.warning("the guest did not stop within \(options.timeoutSeconds) s (--timeout): stopping it"))
                return
            }
            let remainingMs = Int32(min(UInt64(Int32.max), (deadline - now) / 1_000_000 + 1))
            _ = latch?.wait(timeoutMilliseconds: remainingMs)
        }
    }

    // MARK: Teardown

    private func executeTeardown() {
        observer(.phase("teardown"))
        for step in options.plan.steps {
            let hazard = step.safetyRequirements.first { !completedSteps.contains($0.0) }
                .map { "\(step.rawValue) before \($0.0.rawValue): \($0.1)" }
            let start = monotonicNanoseconds()
            var detail = ""
            var failure: String?
            do {
                detail = try perform(step)
            } catch {
                failure = error.description
            }
            completedSteps.insert(step)
            let record = TeardownRecord(step: step, durationNanoseconds: monotonicNanoseconds() - start,
                                        error: failure, hazard: hazard, detail: detail)
            report.teardown.append(record)
            noteStopSignalsDuringTeardown()
            var fields: [(String, JSONValue)] = [("duration_ns", .uint(record.durationNanoseconds)),
                                                 ("ok", .bool(failure == nil)), ("detail", .string(detail))]
            if let failure { fields.append(("error", .string(failure))) }
            if let hazard { fields.append(("hazard", .string(hazard))) }
            journal.record("teardown.\(step.rawValue)", fields)
            observer(.teardown(record))
        }
    }

    /// A SIGINT/SIGTERM that arrives once teardown has started changes
    /// nothing (teardown already runs, exactly once, to the end); it is
    /// journaled and said, so the user knows it was heard.
    private func noteStopSignalsDuringTeardown() {
        guard options.handleSignals else { return }
        let count = StopSignals.count
        guard count > acknowledgedSignals else { return }
        let first = acknowledgedSignals == 0 ? StopSignals.received.map(StopSignals.name) : nil
        let what = first ?? "another stop signal"
        for _ in acknowledgedSignals..<count {
            journal.record("signal", [("signal", .string(first ?? "SIGINT/SIGTERM")), ("during", "teardown"),
                                      ("action", "none: teardown is already under way and runs once")])
        }
        acknowledgedSignals = count
        observer(.warning("\(what) received during teardown: teardown is already under way and runs exactly once"))
    }

    private func perform(_ step: TeardownStep) throws(LifecycleError) -> String {
        switch step {
        case .stopVCPUs:
            return try stopVCPUs()
        case .reclaim:
            let isolated = verifyIsolationBeforeReclaim()
            let reclaimed = locked { ledger.reclaimAll() }
            try platform.reclaim(reclaimed)
            let privatePages = reclaimed.formerlyPrivate.reduce(0) { $0 + $1.count }
            let sharedPages = reclaimed.formerlyShared.reduce(0) { $0 + $1.count }
            let verified = verifyDiscarded(reclaimed)
            recordPhase("reclaimed")
            return "\(isolated) private pages verified unreadable by the host first; \(privatePages) private pages discarded, \(sharedPages) shared pages kept, \(verified) verified zero"
        case .unbind:
            try platform.unbind()
            return "memslots deleted (guest memory unbound)"
        case .release:
            try platform.release()
            locked { ledger.releaseAll() }
            recordPhase("released")
            return "guest memory closed and unmapped"
        case .destroy:
            try platform.destroy()
            return "vCPUs and the VM destroyed"
        }
    }

    private func stopVCPUs() throws(LifecycleError) -> String {
        // vCPUs whose loop already ended need no kick, only a join.
        let running = locked { threads.filter { report.stopReasons[$0.index] == nil } }
        for thread in running {
            platform.requestStop(vcpu: thread.index)
            thread.kick()
        }
        var stuck: [Int] = []
        for thread in threads {
            // Re-kick while waiting: a kick can land between two KVM_RUNs.
            var joined = false
            let deadline = monotonicNanoseconds() + options.vcpuStopTimeoutNanoseconds
            while !joined && monotonicNanoseconds() < deadline {
                joined = thread.join(timeoutNanoseconds: 20_000_000)
                if !joined {
                    platform.requestStop(vcpu: thread.index)
                    thread.kick()
                }
            }
            if !joined { stuck.append(thread.index) }
        }
        if !stuck.isEmpty {
            throw .teardown("vCPU \(stuck.map(String.init).joined(separator: ", ")) did not stop within \(options.vcpuStopTimeoutNanoseconds / 1_000_000) ms of being kicked; the VM cannot be torn down safely")
        }
        return "\(threads.count) vCPU thread\(threads.count == 1 ? "" : "s") joined"
    }

    /// Before reclaim, the ledger's claim that the host cannot touch private
    /// pages is checked against what the platform enforces: a host read of a
    /// private page must fault (probed without crashing the VMM). Probed: the
    /// pages the guest shared and took back, and the entry page.
    private func verifyIsolationBeforeReclaim() -> Int {
        let pageSize = options.ram.pageSize
        var candidates: [UInt64] = locked { everShared.filter { ledger.state(of: $0) == .private }.sorted() }
        if let entryGFN, locked({ ledger.state(of: entryGFN) == .private }), !candidates.contains(entryGFN) {
            candidates.append(entryGFN)
        }
        var verified = 0
        for gfn in candidates.prefix(8) {
            let access = platform.probeHostRead(gpa: gfn * pageSize)
            switch access {
            case .faulted, .unmapped:
                verified += 1
            case .readable:
                report.violations.append("the host could read private gfn 0x\(String(gfn, radix: 16)) before reclaim: the platform does not enforce isolation")
            }
            journal.record("verify.private", [("gfn", .uint(gfn)), ("host_access", .string(access.description))])
        }
        return verified
    }

    /// Pages the guest owned must read zero once reclaimed: the pages it once
    /// shared and then took back (they held its message), the entry page, and
    /// the first page of each private range.
    private func verifyDiscarded(_ reclaimed: Reclaim) -> Int {
        let pageSize = options.ram.pageSize
        let formerlyPrivate = reclaimed.formerlyPrivate
        func wasPrivate(_ gfn: UInt64) -> Bool { formerlyPrivate.contains { $0.contains(gfn) } }
        var candidates = Set(everShared.filter(wasPrivate))
        if let entryGFN, wasPrivate(entryGFN) { candidates.insert(entryGFN) }
        for range in formerlyPrivate.prefix(16) { candidates.insert(range.start) }
        var verified = 0
        for gfn in candidates.sorted().prefix(64) {
            do {
                let bytes = try platform.readHostMemory(gpa: gfn * pageSize, length: Int(pageSize))
                if let offset = bytes.firstIndex(where: { $0 != 0 }) {
                    report.violations.append("gfn 0x\(String(gfn, radix: 16)) was private but is not zero after reclaim (byte \(offset) is 0x\(String(bytes[offset], radix: 16))): private contents leaked to the host")
                } else {
                    verified += 1
                }
            } catch {
                report.violations.append("could not read reclaimed gfn 0x\(String(gfn, radix: 16)): \(error)")
            }
        }
        report.verifiedZeroPages = verified
        journal.record("verify.zeroed", [("pages", .int(Int64(verified))), ("checked", .int(Int64(min(candidates.count, 64))))])
        return verified
    }

    // MARK: Accounting

    private func recordPhase(_ name: String) {
        let counts = locked { ledger.counts }
        report.phases.append((name, counts))
    }

    private func finish(baseline: [String]) {
        report.violations += platform.findings
        let held = platform.openResources
        if !held.isEmpty {
            report.violations.append("after teardown the platform still holds \(held.joined(separator: ", "))")
        }
        if options.auditDescriptors { report.leakedDescriptors = FileDescriptorAudit.leaked(since: baseline) }
        if report.phases.last?.0 != "released" { recordPhase("final") }
        noteStopSignalsDuringTeardown()
        let tally = locked { self.tally }
        if tally.total > 0 {
            journal.record("memory.aggregate", [
                ("after", .int(Int64(Self.individuallyJournaledRequests))), ("requests", .int(Int64(tally.total))),
                ("share_ok", .int(Int64(tally.shareOK))), ("share_rejected", .int(Int64(tally.shareRejected))),
                ("unshare_ok", .int(Int64(tally.unshareOK))), ("unshare_rejected", .int(Int64(tally.unshareRejected))),
                ("first_rejection", tally.firstRejection.map { JSONValue.string($0) } ?? .null),
            ])
        }
        let failures = report.failures
        journal.record("verdict", [
            ("passed", .bool(failures.isEmpty)), ("failures", .array(failures.map { .string($0) })),
            ("fds_left", options.auditDescriptors ? .int(Int64(report.leakedDescriptors.count)) : .null),
        ])
        journal.record("summary", [
            ("platform", .string(platform.description.id)),
            ("phases", .object(report.phases.map { phase, counts in
                (phase, .object([("private", .uint(counts.private)), ("shared", .uint(counts.shared)),
                                 ("host", .uint(counts.host + counts.reclaimed))]))
            })),
            ("memory_requests", .int(Int64(report.memoryRequests))),
            ("rejected", .int(Int64(report.rejectedRequests))),
            ("journaled_requests", .int(Int64(min(report.memoryRequests, Self.individuallyJournaledRequests)))),
        ])
        journal.close()
    }
}

/// The pure rule for a share/unshare request: alignment, then the ledger's
/// transition (all-or-nothing). Tested with synthetic requests.
public enum MemoryRequestPolicy {
    public static func apply(_ request: MemoryRequest, pageSize: UInt64,
                             to ledger: inout OwnershipLedger) -> Result<Void, MemoryRequestRejection> {
        guard request.gpa % pageSize == 0 else { return .failure(.unaligned(gpa: request.gpa)) }
        guard request.pages > 0 else { return .failure(.emptyRange) }
        let range = GFNRange(start: request.gpa / pageSize, count: request.pages)
        do {
            switch request.operation {
            case .share: try ledger.share(range)
            case .unshare: try ledger.unshare(range)
            }
            return .success(())
        } catch {
            return .failure(.ledger(error))
        }
    }
}

/// Share/unshare requests past `individuallyJournaledRequests`, counted by
/// operation and answer.
private struct RequestTally {
    var shareOK = 0, shareRejected = 0, unshareOK = 0, unshareRejected = 0
    var firstRejection: String?

    var total: Int { shareOK + shareRejected + unshareOK + unshareRejected }

    mutating func count(_ request: MemoryRequest, _ outcome: Result<Void, MemoryRequestRejection>) {
        switch (request.operation, outcome) {
        case (.share, .success): shareOK += 1
        case (.unshare, .success): unshareOK += 1
        case (.share, .failure(let why)), (.unshare, .failure(let why)):
            if request.operation == .share { shareRejected += 1 } else { unshareRejected += 1 }
            if firstRejection == nil { firstRejection = "\(request.operation.rawValue) gpa 0x\(String(request.gpa, radix: 16)): \(why)" }
        }
    }
}

/// Why the host would not read guest memory the guest pointed it at.
struct HostReadRefusal: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
