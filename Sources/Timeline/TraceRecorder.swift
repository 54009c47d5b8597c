import Lifecycle
import Ownership
import Synchronization

/// A sink of the lifecycle's event stream that keeps what a Perfetto timeline
/// of the run needs (Docs/trace.md): a track per vCPU (time in the guest as
/// slices, each exit an instant with its reason), the lifecycle (phases and
/// teardown steps as slices), memory (each share/unshare/reject, who decided)
/// and counters of private, shared and host pages.
///
/// Feed it every event (`record`, from any thread: the observer runs on vCPU
/// threads too); `traceEvents` can be asked at any time and always gives a
/// well-formed trace, with whatever is still open closed at the last moment
/// seen, so a run that fails midway still has a valid trace up to there.
public final class TraceRecorder: Sendable {
    /// Exits drawn one by one per vCPU; past this a guest is storming, and the
    /// rest of its time in the guest is one slice that says how many exits it
    /// holds (as the journal lists the first 1000 requests and counts the rest).
    public static let listedExitsPerVCPU = 10_000

    /// Track ids (the format's `tid`): the lifecycle, memory, then vCPU n at `vcpuTrackBase + n`.
    public static let lifecycleTrack = 1, memoryTrack = 2, vcpuTrackBase = 10

    private struct VCPUTrack {
        var events: [TraceEvent] = []
        /// When the vCPU last went into the guest (nil once it stopped).
        var inGuestSince: UInt64?
        var listed = 0
        /// Exits past `listedExitsPerVCPU`, and since when they are merged.
        var unlisted = 0
        var unlistedSince: UInt64?
        var lastExit: UInt64 = 0
    }

    private struct State {
        var start: UInt64?
        var latest: UInt64 = 0
        var processName = "pvmh run"
        var ramPages: UInt64?
        var lifecycle: [TraceEvent] = []
        var memory: [TraceEvent] = []
        var counters: [TraceEvent] = []
        var vcpus: [Int: VCPUTrack] = [:]
        var openPhase: String?
    }

    private let state = Mutex(State())
    /// Put before the process name (`pvmh check` names each run by its scenario).
    public let label: String?

    public init(label: String? = nil) {
        self.label = label
    }

    /// Takes one event of the run, stamped now (events that carry their own
    /// times — exits, teardown steps, ledger snapshots — are placed at those).
    public func record(_ event: LifecycleEvent) {
        state.withLock { state in
            let now = monotonicNanoseconds()
            if state.start == nil { state.start = now }
            state.latest = max(state.latest, now)
            Self.apply(event, now: now, to: &state)
        }
    }

    private static func apply(_ event: LifecycleEvent, now: UInt64, to state: inout State) {
        let lifecycle = Self.lifecycleTrack, memory = Self.memoryTrack
        switch event {
        case .started(let platform, let guest, let ram, let vcpus, let plan):
            state.processName = "pvmh: \(guest) on \(platform.id)"
            state.ramPages = ram.gfns.count
            state.lifecycle.append(TraceEvent("start", .instant, tid: lifecycle, time: now, args: [
                ("platform", .string(platform.id)), ("guest", .string(guest)), ("memory_bytes", .uint(ram.size)),
                ("vcpus", .int(Int64(vcpus))), ("plan", .string(plan.description)),
            ]))
            state.counters.append(counter(PageCounts(), ramPages: ram.gfns.count, at: now))
        case .phase(let phase):
            closePhase(at: now, &state)
            state.lifecycle.append(TraceEvent(phase.rawValue, .begin, tid: lifecycle, time: now))
            state.openPhase = phase.rawValue
        case .madePrivate(let range, let how, let ranges):
            state.memory.append(TraceEvent("all RAM private", .instant, tid: memory, time: now, args: [
                ("gfn", .uint(range.start)), ("pages", .uint(range.count)), ("how", .string(how)), ("ledger_ranges", .int(Int64(ranges))),
            ]))
        case .loaded(let image):
            state.lifecycle.append(TraceEvent("loaded", .instant, tid: lifecycle, time: now, args: [
                ("entry", .string(hex(image.entry))), ("segments", .int(Int64(image.segments.count))),
            ]))
        case .vcpuStarted(let index):
            state.vcpus[index, default: VCPUTrack()].inGuestSince = now
            state.vcpus[index, default: VCPUTrack()].events.append(TraceEvent("started", .instant, tid: vcpuTrackBase + index, time: now))
        case .vcpuExit(let record):
            exit(record, &state)
        case .vcpuStopped:
            break  // the `.stopped` exit before it is drawn
        case .console(let vcpu, let line):
            state.vcpus[vcpu, default: VCPUTrack()].events.append(TraceEvent("console", .instant, tid: vcpuTrackBase + vcpu, time: now,
                                                                             args: [("text", .string(line))]))
        case .memory(let request, let result, let pageSize, let listed, let vcpu, let decider):
            guard listed else { return }
            var args: [(String, JSONValue)] = [
                ("vcpu", .int(Int64(vcpu))), ("gfn", .uint(request.gpa / pageSize)), ("gpa", .string(hex(request.gpa))),
                ("pages", .uint(request.pages)),
            ]
            let name: String
            switch result {
            case .success:
                name = request.operation.rawValue
                args.append(("answer", "ok"))
            case .failure(let why):
                name = "\(request.operation.rawValue) rejected"
                args += [("answer", "rejected"), ("reason", .string(why.description))]
            }
            switch decider {
            case .vmm:
                args.append(("decided_by", "vmm"))
            case .hypervisor(let verdict):
                args.append(("decided_by", "hypervisor"))
                switch verdict {
                case .accepted: args.append(("hypervisor", "accepted"))
                case .refused(let why): args.append(("hypervisor", .string("refused: \(why)")))
                }
            }
            args.append(("transport", .string(request.transport)))
            state.memory.append(TraceEvent(name, .instant, tid: memory, time: now, args: args))
        case .requestStorm(let after):
            state.memory.append(TraceEvent("request storm", .instant, tid: memory, time: now, args: [
                ("after", .int(Int64(after))), ("message", .string(event.warning ?? "")),
            ]))
        case .requestTally(let tally):
            state.memory.append(TraceEvent("requests counted, not listed", .instant, tid: memory, time: now,
                                           args: [("requests", .int(Int64(tally.total)))] + tally.fields.map { ($0.0, .int(Int64($0.1))) }))
        case .message(let gpa, let text):
            state.memory.append(TraceEvent("host read message", .instant, tid: memory, time: now, args: [
                ("gpa", .string(hex(gpa))), ("text", .string(text)),
            ]))
        case .isolationProbe(let gfn, let access):
            state.memory.append(TraceEvent("host read probe", .instant, tid: memory, time: now, args: [
                ("gfn", .uint(gfn)), ("host_access", .string(access.description)),
            ]))
        case .ledgerLag(let gfns, let bound):
            state.memory.append(TraceEvent("ledger lag", .instant, tid: memory, time: now, args: [
                ("pages", .int(Int64(gfns.count))), ("bound", .int(Int64(bound))),
            ]))
        case .agreement(let check):
            state.memory.append(TraceEvent("ledger agreement", .instant, tid: memory, time: now, args: [
                ("pages", .uint(check.pages)), ("disagreeing", .uint(check.disagreeing)), ("source", .string(check.source)),
            ]))
        case .reclaimed(let discarded, let kept):
            state.memory.append(TraceEvent("reclaimed", .instant, tid: memory, time: now, args: [
                ("private_discarded", .uint(discarded)), ("shared_kept", .uint(kept)),
            ]))
        case .redonated(let gfns):
            state.memory.append(TraceEvent("relinquished pages donated again", .instant, tid: memory, time: now, args: [
                ("pages", .int(Int64(gfns.count))), ("gfns", .string(gfns.map { hex($0) }.joined(separator: ","))),
            ]))
        case .relinquishChecked(let range, let zero):
            state.memory.append(TraceEvent("relinquished page read back", .instant, tid: memory, time: now, args: [
                ("gfn", .string(hex(range.start))), ("pages", .uint(range.count)), ("zero", .uint(zero)),
            ]))
        case .zeroCheck(let check):
            state.memory.append(TraceEvent("zero check", .instant, tid: memory, time: now, args: [
                ("verified", .uint(check.verifiedPages)), ("checked", .uint(check.pages)),
                ("holes", .uint(check.holePages)), ("bytes_read", .uint(check.bytesRead)),
            ]))
        case .ownership(let snapshot):
            state.latest = max(state.latest, snapshot.takenAt)
            state.counters.append(counter(snapshot.counts, ramPages: state.ramPages, at: snapshot.takenAt))
        case .check(let id, let passed, let value):
            state.lifecycle.append(TraceEvent("check \(id) \(passed ? "pass" : "FAIL")", .instant, tid: lifecycle, time: now, args: [
                ("id", .uint(id)), ("passed", .bool(passed)), ("value", .int(value)),
            ]))
        case .guestDone(let status):
            state.lifecycle.append(TraceEvent("guest done", .instant, tid: lifecycle, time: now, args: [("status", .uint(status))]))
        case .violation(let violation):
            state.lifecycle.append(TraceEvent("violation", .instant, tid: lifecycle, time: now, args: [("message", .string(violation.description))]))
        case .interrupted(let signal, let during):
            state.lifecycle.append(TraceEvent("signal", .instant, tid: lifecycle, time: now, args: [
                ("signal", .string(StopSignals.name(signal))), ("during", .string(during.rawValue)),
            ]))
        case .signalsDuringTeardown(let first, let count):
            state.lifecycle.append(TraceEvent("signals during teardown", .instant, tid: lifecycle, time: now, args: [
                ("signal", .string(first.map(StopSignals.name) ?? "SIGINT/SIGTERM")), ("count", .int(Int64(count))),
            ]))
        case .timedOut(let seconds):
            state.lifecycle.append(TraceEvent("timeout", .instant, tid: lifecycle, time: now, args: [("seconds", .string(String(seconds)))]))
        case .failed(let error):
            state.lifecycle.append(TraceEvent("error", .instant, tid: lifecycle, time: now, args: [("message", .string(error.description))]))
        case .teardownStep(let record):
            var args: [(String, JSONValue)] = [("ok", .bool(record.error == nil)), ("detail", .string(record.detail))]
            if let error = record.error { args.append(("error", .string(error))) }
            if let hazard = record.hazard { args.append(("hazard", .string(hazard))) }
            state.latest = max(state.latest, record.startNanoseconds + record.durationNanoseconds)
            state.lifecycle.append(TraceEvent(record.step.rawValue, .complete, tid: lifecycle, time: record.startNanoseconds,
                                              duration: record.durationNanoseconds, args: args))
        case .ledgerPhase:
            break  // the counters carry the same numbers
        case .finished(let report, _):
            let failures = report.failures
            state.lifecycle.append(TraceEvent("verdict: \(failures.isEmpty ? "PASS" : "FAIL")", .instant, tid: lifecycle, time: now, args: [
                ("passed", .bool(failures.isEmpty)), ("failures", .array(failures.map { .string($0) })),
            ]))
            closePhase(at: now, &state)
        }
    }

    private static func closePhase(at time: UInt64, _ state: inout State) {
        guard let open = state.openPhase else { return }
        state.lifecycle.append(TraceEvent(open, .end, tid: lifecycleTrack, time: time))
        state.openPhase = nil
    }

    /// The time in the guest before this exit as a slice, the exit as an
    /// instant, and the vCPU back in the guest from `resumedAt`.
    private static func exit(_ record: VCPUExitRecord, _ state: inout State) {
        let tid = vcpuTrackBase + record.vcpu
        var track = state.vcpus[record.vcpu] ?? VCPUTrack()
        state.latest = max(state.latest, record.resumedAt ?? record.exitedAt)
        let since = track.inGuestSince ?? record.exitedAt
        let (name, args) = exitDescription(record.event)
        if track.listed < listedExitsPerVCPU || record.resumedAt == nil {
            if track.unlisted > 0 {
                track.events.append(mergedSlice(track, tid: tid, until: since))
                track.unlisted = 0
                track.unlistedSince = nil
            }
            if record.exitedAt > since {
                track.events.append(TraceEvent("guest", .complete, tid: tid, time: since, duration: record.exitedAt - since))
            }
            var exitArgs = args
            if let resumed = record.resumedAt { exitArgs.append(("handled_ns", .uint(resumed - min(resumed, record.exitedAt)))) }
            track.events.append(TraceEvent("exit: \(name)", .instant, tid: tid, time: record.exitedAt, args: exitArgs))
            track.listed += 1
        } else {
            if track.unlisted == 0 { track.unlistedSince = since }
            track.unlisted += 1
        }
        track.lastExit = record.exitedAt
        track.inGuestSince = record.resumedAt
        state.vcpus[record.vcpu] = track
    }

    private static func mergedSlice(_ track: VCPUTrack, tid: Int, until end: UInt64) -> TraceEvent {
        let since = track.unlistedSince ?? end
        return TraceEvent("guest and VMM: \(track.unlisted) exits not drawn one by one", .complete, tid: tid, time: since,
                          duration: end - min(end, since), args: [("exits", .int(Int64(track.unlisted)))])
    }

    /// What an exit was, as a Perfetto instant's name and arguments.
    static func exitDescription(_ event: GuestEvent) -> (String, [(String, JSONValue)]) {
        switch event {
        case .console(let bytes):
            return ("console output", [("bytes", .int(Int64(bytes.count)))])
        case .memoryRequest(let request):
            return ("\(request.operation.rawValue) request", [("gpa", .string(hex(request.gpa))), ("pages", .uint(request.pages)),
                                                              ("transport", .string(request.transport))])
        case .memoryNotice(let request, let verdict):
            let answer = if case .refused(let why) = verdict { "refused: \(why)" } else { "accepted" }
            return ("\(request.operation.rawValue) by the hypervisor", [("gpa", .string(hex(request.gpa))), ("pages", .uint(request.pages)),
                                                                        ("hypervisor", .string(answer))])
        case .report(let report):
            switch report {
            case .message(let gpa, let length): return ("report: message", [("gpa", .string(hex(gpa))), ("length", .uint(length))])
            case .check(let id, let passed, _): return ("report: check", [("id", .uint(id)), ("passed", .bool(passed))])
            case .done(let status): return ("report: done", [("status", .uint(status))])
            case .corrupted(let gpa, _, _): return ("report: corrupted", [("gpa", .string(hex(gpa)))])
            case .unknown(let code, _): return ("report: unknown", [("code", .uint(code))])
            }
        case .stopped(let reason):
            return ("stopped", [("reason", .string(reason.description))])
        }
    }

    private static func counter(_ counts: PageCounts, ramPages: UInt64?, at time: UInt64) -> TraceEvent {
        // Pages the ledger does not hold (before creation, after release)
        // are the host's too.
        let held = counts.private + counts.shared
        let host = ramPages.map { $0 - min($0, held) } ?? (counts.host + counts.reclaimed)
        return TraceEvent("pages", .counter, tid: 0, time: time, args: [
            ("private", .uint(counts.private)), ("shared", .uint(counts.shared)), ("host", .uint(host)),
        ])
    }

    /// The run as trace events for process `pid`, times from its start:
    /// metadata first, then each track in time order. Anything still open
    /// (a phase, a vCPU in the guest) is closed at the last moment seen.
    public func traceEvents(pid: Int = 1) -> [TraceEvent] {
        let state = state.withLock { $0 }
        let start = state.start ?? 0
        let end = state.latest
        let name = label.map { "\($0): \(state.processName)" } ?? state.processName
        var out: [TraceEvent] = [
            TraceEvent("process_name", .metadata, pid: pid, tid: 0, time: 0, args: [("name", .string(name))]),
            TraceEvent("process_sort_index", .metadata, pid: pid, tid: 0, time: 0, args: [("sort_index", .int(Int64(pid)))]),
        ]
        var tracks: [(Int, String, [TraceEvent])] = []
        var lifecycle = state.lifecycle
        if let open = state.openPhase { lifecycle.append(TraceEvent(open, .end, tid: Self.lifecycleTrack, time: end)) }
        tracks.append((Self.lifecycleTrack, "lifecycle", lifecycle))
        tracks.append((Self.memoryTrack, "memory", state.memory))
        for (index, track) in state.vcpus.sorted(by: { $0.key < $1.key }) {
            var events = track.events
            let tid = Self.vcpuTrackBase + index
            if track.unlisted > 0 { events.append(Self.mergedSlice(track, tid: tid, until: track.inGuestSince == nil ? track.lastExit : end)) }
            if let since = track.inGuestSince, track.unlisted == 0, end > since {
                events.append(TraceEvent("guest (no exit seen before the trace ended)", .complete, tid: tid, time: since, duration: end - since))
            }
            tracks.append((tid, "vCPU \(index)", events))
        }
        for (sortIndex, (tid, trackName, events)) in tracks.enumerated() {
            out.append(TraceEvent("thread_name", .metadata, pid: pid, tid: tid, time: 0, args: [("name", .string(trackName))]))
            out.append(TraceEvent("thread_sort_index", .metadata, pid: pid, tid: tid, time: 0, args: [("sort_index", .int(Int64(sortIndex)))]))
            out += Self.ordered(events, from: start, pid: pid)
        }
        out += Self.ordered(state.counters, from: start, pid: pid)
        return out
    }

    /// Relative times, sorted by time, ties in the order they were recorded.
    private static func ordered(_ events: [TraceEvent], from start: UInt64, pid: Int) -> [TraceEvent] {
        var numbered: [(Int, TraceEvent)] = []
        for (index, event) in events.enumerated() {
            var event = event
            event.time -= min(event.time, start)
            event.pid = pid
            numbered.append((index, event))
        }
        numbered.sort { (a: (Int, TraceEvent), b: (Int, TraceEvent)) -> Bool in
            a.1.time != b.1.time ? a.1.time < b.1.time : a.0 < b.0
        }
        return numbered.map { $0.1 }
    }
}

/// `0x40086000`.
func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
