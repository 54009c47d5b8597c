/// The journal's view of the lifecycle's event stream: every event name and
/// field name the lifecycle writes is spelled here, once (Docs/journal.md
/// lists them). Platforms journal their own events (`create.vm`, …) directly.
extension LifecycleEvent {
    /// The JSON Lines records for this event (most give one, a few none,
    /// the end of the run two).
    public var journalRecords: [(String, [(String, JSONValue)])] {
        switch self {
        case .started(let platform, let guest, let ram, let vcpus, let plan):
            return [("run.start", [("platform", .string(platform.id)), ("guest", .string(guest)),
                                   ("memory_bytes", .uint(ram.size)), ("vcpus", .int(Int64(vcpus))),
                                   ("plan", .string(plan.description))])]
        case .phase, .ledgerPhase, .vcpuExit, .ownership:
            return []
        case .madePrivate(let range, let how, let ranges):
            return [("memory.private", [("gfn", .uint(range.start)), ("pages", .uint(range.count)), ("how", .string(how)),
                                        ("ranges", .int(Int64(ranges)))])]
        case .loaded(let image):
            return [("load", [
                ("entry", .uint(image.entry)),
                ("segments", .array(image.segments.map { segment in
                    .object([("gpa", .uint(segment.guestPhysicalAddress)), ("file_bytes", .uint(UInt64(segment.fileBytes.count))),
                             ("mem_bytes", .uint(segment.memorySize))])
                })),
            ])]
        case .vcpuStarted(let index):
            return [("vcpu.start", [("vcpu", .int(Int64(index)))])]
        case .vcpuStopped(let index, let reason):
            return [("vcpu.stop", [("vcpu", .int(Int64(index))), ("reason", .string(reason.description))])]
        case .console(let vcpu, let line):
            return [("console", [("vcpu", .int(Int64(vcpu))), ("text", .string(line))])]
        case .memory(let request, let result, let pageSize, let listed, let vcpu, _):
            guard listed else { return [] }
            var fields: [(String, JSONValue)] = [
                ("gfn", .uint(request.gpa / pageSize)), ("gpa", .uint(request.gpa)), ("pages", .uint(request.pages)),
                ("transport", .string(request.transport)), ("vcpu", .int(Int64(vcpu))),
            ]
            switch result {
            case .success: fields.append(("result", "ok"))
            case .failure(let why): fields += [("result", "rejected"), ("reason", .string(why.description))]
            }
            return [(request.operation.rawValue, fields)]
        case .requestStorm(let after):
            return [("memory.storm", [("after", .int(Int64(after))), ("message", .string(warning ?? ""))])]
        case .check(let id, let passed, let value):
            return [("check", [("id", .uint(id)), ("passed", .bool(passed)), ("value", .int(value))])]
        case .guestDone(let status):
            return [("guest.done", [("status", .uint(status))])]
        case .message(let gpa, let text):
            return [("message", [("gpa", .uint(gpa)), ("text", .string(text))])]
        case .violation(let violation):
            switch violation {
            case .unknownReport(let code, _): return [("guest.unknown-report", [("code", .uint(code))])]
            case .guestSawCorruption(let gpa, let expected, let found, let pageSize):
                return [("guest.corrupt", [("gfn", .uint(gpa / pageSize)), ("gpa", .uint(gpa)), ("expected", .uint(expected)),
                                           ("found", .uint(found)), ("message", .string(violation.description))])]
            case .messageRefused, .finding(.ledgerDisagreesWithHypervisor):
                return [("violation", [("message", .string(violation.description))])]
            default: return []
            }
        case .interrupted(let signal, let during):
            return [("signal", [("signal", .string(StopSignals.name(signal))), ("during", .string(during == .run ? "run" : "boot"))])]
        case .signalsDuringTeardown(let first, let count):
            return Array(repeating: ("signal", [("signal", .string(first.map(StopSignals.name) ?? "SIGINT/SIGTERM")), ("during", "teardown"),
                                                ("action", "none: teardown is already under way and runs once")]), count: count)
        case .timedOut(let seconds):
            return [("timeout", [("seconds", .string(String(seconds)))])]
        case .failed(let error):
            return [("error", [("message", .string(error.description))])]
        case .isolationProbe(let gfn, let access):
            return [("verify.private", [("gfn", .uint(gfn)), ("host_access", .string(access.description))])]
        case .ledgerLag(let gfns, let bound):
            return [("verify.in-flight", [("pages", .int(Int64(gfns.count))), ("gfns", .string(gfns.map { hex($0) }.joined(separator: ","))),
                                          ("bound", .int(Int64(bound)))])]
        case .agreement(let check):
            return [("verify.agreement", [("pages", .uint(check.pages)), ("disagreeing", .uint(check.disagreeing)),
                                          ("source", .string(check.source))])]
        case .redonated(let gfns):
            return [("verify.redonated", [("pages", .int(Int64(gfns.count))), ("gfns", .string(gfns.map { hex($0) }.joined(separator: ",")))])]
        case .relinquishChecked(let range, let zero):
            return [("verify.relinquished", [("gfn", .uint(range.start)), ("pages", .uint(range.count)), ("zero", .uint(zero))])]
        case .reclaimed(let discarded, let kept):
            return [("memory.reclaimed", [("private", .uint(discarded)), ("shared", .uint(kept))])]
        case .zeroCheck(let check):
            return [("verify.zeroed", [("pages", .uint(check.verifiedPages)), ("checked", .uint(check.pages)),
                                       ("holes", .uint(check.holePages)), ("bytes_read", .uint(check.bytesRead)),
                                       ("host_data", .uint(check.hostDataPages))])]
        case .teardownStep(let record):
            var fields: [(String, JSONValue)] = [("duration_ns", .uint(record.durationNanoseconds)),
                                                 ("ok", .bool(record.error == nil)), ("detail", .string(record.detail))]
            if let error = record.error { fields.append(("error", .string(error))) }
            if let hazard = record.hazard { fields.append(("hazard", .string(hazard))) }
            return [("teardown.\(record.step.rawValue)", fields)]
        case .requestTally(let tally):
            return [("memory.aggregate", [
                ("after", .int(Int64(ProtectedVMLifecycle.individuallyJournaledRequests))), ("requests", .int(Int64(tally.total))),
            ] + tally.fields.map { ($0.0, JSONValue.int(Int64($0.1))) } + [
                ("first_rejection", tally.firstRejection.map { JSONValue.string($0) } ?? .null),
            ])]
        case .finished(let report, let audited):
            let failures = report.failures
            return [
                ("verdict", [("passed", .bool(failures.isEmpty)), ("failures", .array(failures.map { .string($0) })),
                             ("fds_left", audited ? .int(Int64(report.leakedDescriptors.count)) : .null)]),
                ("summary", [
                    ("platform", .string(report.platform.id)),
                    ("phases", .object(report.phases.map { phase, counts in
                        (phase, .object([("private", .uint(counts.private)), ("shared", .uint(counts.shared)),
                                         ("host", .uint(counts.host + counts.reclaimed))]))
                    })),
                    ("memory_requests", .int(Int64(report.memoryRequests))),
                    ("rejected", .int(Int64(report.rejectedRequests))),
                    ("journaled_requests", .int(Int64(min(report.memoryRequests, ProtectedVMLifecycle.individuallyJournaledRequests)))),
                ]),
            ]
        }
    }
}

extension Journal {
    /// Writes the records of one lifecycle event.
    public func record(_ event: LifecycleEvent) {
        for (name, fields) in event.journalRecords { record(name, fields) }
    }
}
