import Bench
import Glibc
import Lifecycle

/// `pvmh bench`: runs the benchmark figures (module Bench) and prints them.
/// Nothing here measures anything; it parses and formats.
enum BenchCommand {
    static let help = """
    usage: pvmh bench [--json] [--quick] [--repetitions N] [--only FIGURE,…] [--no-install]

    Measures pvmh against a raw-ioctl C baseline (Benchmarks/baseline) and QEMU,
    each figure a ratio from interleaved repetitions in this run, reported as the
    median with its spread (min–max and interquartile range). Docs/benchmarks.md
    has the method for each figure and the latest table.

      1 lifecycle   demo guest lifecycle in process: pvmh / C            goal ≤ 1.2
      2 process     `pvmh run` / C process (goal ≤ 2.5); QEMU / pvmh     goal ≥ 15
      3 transport   share/unshare round trip / raw exit round trip       goal ≤ 1.25
      4 ledger      1 TiB marked private; 10^6 random share/unshare ops, reclaim
      5 teardown    1 GiB and 4 GiB of populated memory: pvmh / C        goal ≤ 1.1
      6 model       A64 interpreter vs QEMU TCG; demo lifecycle on the model

      --json           one JSON object instead of the table
      --quick          everything small and fast: a smoke test, not a measurement
      --repetitions N  interleaved repetitions per figure (default 11, quick 3)
      --only LIST      run only these figures (ids above, comma separated)
      --no-install     never run Benchmarks/install-qemu (QEMU rows are skipped
                       when QEMU is missing; --quick never installs)

    Build pvmh with `swift build -c release` for numbers worth quoting. Figures
    2 (the C process) needs clang beside swiftc and the checkout's Benchmarks/
    (found from the executable or the working directory, or PVMH_SOURCE_ROOT).
    Exit 0 whatever the numbers (benchmarks are not tests); 2 for bad usage.
    """

    static func main(_ args: [String], output: Output) throws(UsageError) -> Int32 {
        var arguments = Arguments(args, command: "bench")
        let json = arguments.flag("--json")
        let quick = arguments.flag("--quick")
        let noInstall = arguments.flag("--no-install")
        let repetitionsText = try arguments.option("--repetitions")
        let onlyText = try arguments.option("--only")
        _ = try arguments.positionals(max: 0)
        var repetitions: Int?
        if let repetitionsText {
            guard let value = Int(repetitionsText), value >= 1, value <= 1000 else {
                throw UsageError("--repetitions \(repetitionsText) is not a count; give a whole number from 1 to 1000")
            }
            repetitions = value
        }
        var only: Set<String>?
        if let onlyText {
            let ids = onlyText.split(separator: ",").map(String.init)
            if let unknown = ids.first(where: { !BenchSuite.figureIDs.contains($0) }) {
                throw UsageError("--only \(unknown) is not a figure; use \(BenchSuite.figureIDs.joined(separator: ", "))")
            }
            only = Set(ids)
        }
        let configuration = BenchConfiguration(quick: quick, repetitions: repetitions, installQEMU: noInstall ? false : nil,
                                               build: buildKind)
        let report = BenchSuite.run(configuration, only: only) { step in
            if !json { output.error("pvmh bench: \(step)") }
        }
        output.line(json ? jsonText(report) : table(report))
        return 0
    }

    static var buildKind: String {
        #if DEBUG
        "debug"
        #else
        "release"
        #endif
    }

    // MARK: Table

    static func table(_ report: BenchReport) -> String {
        var lines: [String] = []
        let machine = report.machine
        lines.append("pvmh bench — \(utcDate(machine.startedAt)), \(machine.cpu), \(machine.cores) cores, \(Format.bytes(machine.memoryBytes & ~UInt64((1 << 20) - 1))) RAM, \(machine.kernel), \(machine.build) build")
        lines.append("load average (1/5/15 min): \(load(machine.loadBefore)) at start, \(load(machine.loadAfter)) at end")
        if report.quick { lines.append("--quick: small sizes and few repetitions, a smoke test; do not quote these numbers") }
        lines.append("ratios: median [min–max, IQR q1–q3, n]; every ratio is per repetition, contenders interleaved")
        for figure in report.figures {
            lines.append("")
            lines.append("\(figure.number). \(figure.title)")
            for row in figure.rows {
                lines.append("   \(row.key)  \(row.label)")
                lines.append("      \(measurementText(row))\(goalText(row))")
                if !row.note.isEmpty { lines.append("      \(row.note)") }
            }
        }
        return lines.joined(separator: "\n")
    }

    static func measurementText(_ row: BenchRow) -> String {
        switch row.measurement {
        case .ratio(let s):
            return "\(number(s.median))×  [\(number(s.minimum))–\(number(s.maximum)), IQR \(number(s.lowerQuartile))–\(number(s.upperQuartile)), n=\(s.count)]"
        case .value(let s, let unit):
            return "\(number(s.median)) \(unit)  [\(number(s.minimum))–\(number(s.maximum)), IQR \(number(s.lowerQuartile))–\(number(s.upperQuartile)), n=\(s.count)]"
        case .skipped(let why):
            return "skipped: \(why)"
        }
    }

    static func goalText(_ row: BenchRow) -> String {
        guard let goal = row.goal else { return "" }
        guard let met = row.goalMet else { return "   goal \(goal)" }
        return "   goal \(goal): \(met ? "met" : "not met")"
    }

    /// Three significant figures or so, never scientific notation.
    static func number(_ value: Double) -> String {
        let magnitude = abs(value)
        let digits = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : magnitude >= 1 ? 2 : 3
        return formatted(value, digits: digits)
    }

    static func load(_ values: [Double]) -> String {
        values.isEmpty ? "unknown" : values.map { formatted($0, digits: 2) }.joined(separator: " ")
    }

    static func utcDate(_ seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min)) UTC"
    }

    // MARK: JSON

    static func jsonText(_ report: BenchReport) -> String {
        let machine = report.machine
        var out = "{"
        out += "\"quick\":\(report.quick),"
        out += "\"machine\":{\"cpu\":\(quoted(machine.cpu)),\"cores\":\(machine.cores),\"memory_bytes\":\(machine.memoryBytes),"
        out += "\"kernel\":\(quoted(machine.kernel)),\"build\":\(quoted(machine.build)),\"started_at\":\(quoted(utcDate(machine.startedAt))),"
        out += "\"load_before\":[\(machine.loadBefore.map(jsonNumber).joined(separator: ","))],"
        out += "\"load_after\":[\(machine.loadAfter.map(jsonNumber).joined(separator: ","))]},"
        out += "\"figures\":["
        out += report.figures.map { figure in
            var text = "{\"number\":\(figure.number),\"id\":\(quoted(figure.id)),\"title\":\(quoted(figure.title)),\"rows\":["
            text += figure.rows.map(jsonRow).joined(separator: ",")
            return text + "]}"
        }.joined(separator: ",")
        return out + "]}"
    }

    static func jsonRow(_ row: BenchRow) -> String {
        var text = "{\"key\":\(quoted(row.key)),\"label\":\(quoted(row.label)),"
        switch row.measurement {
        case .ratio(let s): text += "\"kind\":\"ratio\",\(jsonSummary(s)),"
        case .value(let s, let unit): text += "\"kind\":\"value\",\"unit\":\(quoted(unit)),\(jsonSummary(s)),"
        case .skipped(let why): text += "\"kind\":\"skipped\",\"reason\":\(quoted(why)),"
        }
        if let goal = row.goal {
            switch goal {
            case .atMost(let limit): text += "\"goal\":{\"at_most\":\(jsonNumber(limit))},"
            case .atLeast(let limit): text += "\"goal\":{\"at_least\":\(jsonNumber(limit))},"
            }
            text += "\"goal_met\":\(row.goalMet.map { "\($0)" } ?? "null"),"
        }
        return text + "\"note\":\(quoted(row.note))}"
    }

    static func jsonSummary(_ s: Summary) -> String {
        "\"median\":\(jsonNumber(s.median)),\"min\":\(jsonNumber(s.minimum)),\"max\":\(jsonNumber(s.maximum)),\"q1\":\(jsonNumber(s.lowerQuartile)),\"q3\":\(jsonNumber(s.upperQuartile)),\"n\":\(s.count)"
    }

    static func jsonNumber(_ value: Double) -> String { value.isFinite ? formatted(value, digits: 6) : "null" }
    static func quoted(_ text: String) -> String { JSONValue.string(text).serialized }
}
