import Ownership

/// What the user asked for. Validated before any VM exists.
public struct RunOptions: Sendable {
    public var ram: GuestRAM
    public var vcpus: Int
    /// Seconds the guest may run before the VMM stops it.
    public var timeoutSeconds: Double
    public var plan: TeardownPlan
    /// Install SIGINT/SIGTERM handlers for the run (the CLI does; tests don't).
    public var handleSignals: Bool
    /// How long to wait for a vCPU thread to stop before failing loudly.
    public var vcpuStopTimeoutNanoseconds: UInt64
    /// Compare the process's KVM fds before and after the run. Exact only when
    /// this run is the only VM in the process (the CLI); in-process tests that
    /// run VMs concurrently turn it off and check their own platform instead.
    public var auditDescriptors: Bool
    /// Picks the private pages sampled for the isolation probe (`pvmh run
    /// --seed`; a fixed default, so runs compare).
    public var verificationSeed: UInt64
    public static let defaultVerificationSeed: UInt64 = 0x7076_6D68

    public init(ram: GuestRAM, vcpus: Int = 1, timeoutSeconds: Double = 30, plan: TeardownPlan = .safe,
                handleSignals: Bool = false, vcpuStopTimeoutNanoseconds: UInt64 = 2_000_000_000,
                auditDescriptors: Bool = true, verificationSeed: UInt64 = RunOptions.defaultVerificationSeed) {
        self.ram = ram
        self.vcpus = vcpus
        self.timeoutSeconds = timeoutSeconds
        self.plan = plan
        self.handleSignals = handleSignals
        self.vcpuStopTimeoutNanoseconds = vcpuStopTimeoutNanoseconds
        self.auditDescriptors = auditDescriptors
        self.verificationSeed = verificationSeed
    }
}

/// One executed teardown step.
public struct TeardownRecord: Sendable, Equatable {
    public var step: TeardownStep
    /// CLOCK_MONOTONIC nanoseconds when the step began.
    public var startNanoseconds: UInt64
    public var durationNanoseconds: UInt64
    public var error: String?
    /// Hazard of running it in this position (unsafe plans only).
    public var hazard: String?
    /// What the step did, for humans ("discarded 510 private pages").
    public var detail: String
}

/// Everything a run found out: the verdict is computed from it.
public struct RunReport: Sendable {
    public var platform: PlatformDescription
    public var guestName: String
    public var stopReasons: [Int: VCPUStopReason] = [:]
    public var guestStatus: UInt64?
    public var checks: [(id: UInt64, passed: Bool, value: Int64)] = []
    public var messages: [String] = []
    public var consoleLines: [String] = []
    public var memoryRequests = 0
    public var rejectedRequests = 0
    /// Things that must not happen (guest asked the host to read private memory, a
    /// reclaimed page that is not zero, a platform's finding, …).
    public var violations: [Violation] = []
    /// What host reads of private pages did just before reclaim.
    public var isolationProbes: [(gfn: UInt64, access: HostAccess)] = []
    public var teardown: [TeardownRecord] = []
    public var leakedDescriptors: [String] = []
    public var phases: [(String, PageCounts)] = []
    public var interruptedBy: Int32?
    public var timedOut = false
    public var error: LifecycleError?
    /// Pages verified to read zero after reclaim.
    public var verifiedZeroPages = 0
    /// Pages the guest relinquished, and how many of them the host read back as zero.
    public var relinquishedPages: UInt64 = 0
    public var relinquishedZeroPages: UInt64 = 0
    /// Relinquished pages found donated back to the guest before reclaim (pKVM).
    public var redonatedPages: [UInt64] = []
    /// The ledger against the platform's view of host access, before reclaim.
    public var agreement: HostAccessAgreement?
    /// Pages excused as calls in flight when their vCPU was stopped (pKVM).
    public var ledgerLagPages: [UInt64] = []
    /// The zero check after reclaim, whole (nil until it ran).
    public var zeroCheck: ZeroCheck?
    /// Pages reclaim discarded (private when the guest stopped) and kept for
    /// the host (shared then); nil until reclaim ran.
    public var reclaimed: (discardedPrivate: UInt64, keptShared: UInt64)?

    public init(platform: PlatformDescription, guestName: String) {
        self.platform = platform
        self.guestName = guestName
    }

    /// Reasons the run failed; empty means it passed.
    public var failures: [String] {
        var out: [String] = []
        if let error { out.append(error.description) }
        if let signal = interruptedBy { out.append("interrupted by \(StopSignals.name(signal))") }
        if timedOut { out.append("the guest did not stop before the timeout") }
        for (vcpu, reason) in stopReasons.sorted(by: { $0.key < $1.key }) where !reason.isCleanStop {
            if case .stopRequested = reason, timedOut || interruptedBy != nil || error != nil { continue }
            out.append("vCPU \(vcpu) \(reason)")
        }
        if error == nil && interruptedBy == nil && !timedOut {
            if guestStatus == nil { out.append("the guest never reported that it was done") }
            if let status = guestStatus, status != 0 { out.append("the guest reported status \(status)") }
        }
        for check in checks where !check.passed { out.append("guest check \(check.id) failed (got \(check.value))") }
        out += violations.map(\.description)
        for record in teardown where record.error != nil {
            out.append("teardown step \(record.step.rawValue) failed: \(record.error!)")
        }
        if !leakedDescriptors.isEmpty { out.append("fds left open after teardown: \(leakedDescriptors.joined(separator: ", "))") }
        if let last = phases.last, last.1.private != 0 || last.1.shared != 0 {
            out.append("the ledger still holds \(last.1.private) private and \(last.1.shared) shared pages after teardown")
        }
        return out
    }

    public var passed: Bool { failures.isEmpty }

    /// Folds one event of the run into the report.
    public mutating func apply(_ event: LifecycleEvent) {
        switch event {
        case .vcpuStopped(let index, let reason): stopReasons[index] = reason
        case .console(_, let line): consoleLines.append(line)
        case .memory(_, let result, _, _, _, _):
            memoryRequests += 1
            if case .failure = result { rejectedRequests += 1 }
        case .check(let id, let passed, let value): checks.append((id, passed, value))
        case .guestDone(let status): guestStatus = status
        case .message(_, let text): messages.append(text)
        case .violation(let violation): violations.append(violation)
        case .interrupted(let signal, _): interruptedBy = signal
        case .timedOut: timedOut = true
        case .failed(let failure): error = failure
        case .isolationProbe(let gfn, let access): isolationProbes.append((gfn, access))
        case .zeroCheck(let check):
            verifiedZeroPages = Int(check.verifiedPages)
            zeroCheck = check
        case .reclaimed(let discarded, let kept): reclaimed = (discarded, kept)
        case .redonated(let gfns): redonatedPages = gfns
        case .relinquishChecked(let range, let zero):
            relinquishedPages += range.count
            relinquishedZeroPages += zero
        case .agreement(let check): agreement = check
        case .ledgerLag(let gfns, _): ledgerLagPages = gfns
        case .teardownStep(let record): teardown.append(record)
        case .ledgerPhase(let name, let counts): phases.append((name, counts))
        case .started, .phase, .madePrivate, .loaded, .vcpuStarted, .vcpuExit, .requestStorm, .signalsDuringTeardown,
             .requestTally, .ownership, .finished:
            break
        }
    }

    /// 0 passed, 2 bad input, 1 anything else.
    public var exitCode: Int32 {
        if let error, error.exitCode == 2 { return 2 }
        return passed ? 0 : 1
    }
}
