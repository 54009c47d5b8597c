import Lifecycle
import Ownership

/// Turns lifecycle notices and the final report into what a person reads.
enum RunPresenter {
    /// What a person sees of one lifecycle event as it happens.
    static func show(_ event: LifecycleEvent, output: Output) {
        switch event {
        case .console(_, let line):
            output.line("guest| \(line)")
        case .message(let gpa, let text):
            output.line("host | read from shared page \(Format.hex(gpa)): \"\(text)\"")
        case .memory(let request, let result, _, listed: true, _, _):
            let pages = request.pages == 1 ? "1 page" : "\(request.pages) pages"
            let answer: String = switch result {
            case .success: "ok"
            case .failure(let why): "rejected: \(why)"
            }
            output.line("vmm  | \(request.operation.rawValue) gpa \(Format.hex(request.gpa)) (\(pages)) via \(request.transport) → \(answer)")
        case .relinquishChecked(let range, let zero):
            output.line("host | relinquished \(range): \(zero) of \(range.count) page\(range.count == 1 ? "" : "s") read back zero")
        case .check(let id, let passed, let value):
            output.line("vmm  | guest check \(id): \(passed ? "pass" : "FAIL") (got \(value))")
        default:
            if let warning = event.warning { output.error("pvmh: \(warning)") }
        }
    }

    static func summary(_ report: RunReport, output: Output) {
        output.line("ownership (pages):")
        for (phase, counts) in report.phases {
            output.line("  \(Format.padded(phase, 10)) private \(Format.padded(String(counts.private), 8)) shared \(Format.padded(String(counts.shared), 6)) host \(counts.host + counts.reclaimed)")
        }
        output.line("teardown (\(report.teardown.map(\.step.rawValue).joined(separator: " → "))):")
        for (index, record) in report.teardown.enumerated() {
            let status = record.error.map { "FAILED: \($0)" } ?? record.detail
            output.line("  \(index + 1). \(Format.padded(record.step.rawValue, 11)) \(Format.padded(Format.duration(record.durationNanoseconds), 10)) \(status)")
        }
        let failures = report.failures
        if failures.isEmpty {
            let checks = report.checks.count
            output.line("verdict: PASS — guest \(report.stopReasons[0]?.description ?? "stopped") with status \(report.guestStatus ?? 0), \(checks)/\(checks) guest checks passed, \(report.memoryRequests) memory requests (\(report.rejectedRequests) rejected as pKVM would), \(report.verifiedZeroPages) reclaimed pages verified zero\(report.relinquishedPages > 0 ? ", \(report.relinquishedZeroPages) of \(report.relinquishedPages) relinquished pages verified zero" : ""), no fd left")
        } else {
            output.line("verdict: FAIL")
            for failure in failures { output.line("  - \(failure)") }
        }
    }
}
