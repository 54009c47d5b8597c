import Lifecycle

/// One event of the Chrome trace-event format (the JSON the Perfetto UI and
/// chrome://tracing open; Docs/trace.md lists what pvmh writes). Only the
/// phases pvmh uses exist here.
public struct TraceEvent: Sendable, Equatable {
    public enum Phase: String, Sendable {
        /// A slice begins (`B`) or ends (`E`) on its track; they nest.
        case begin = "B", end = "E"
        /// A slice with its duration (`X`).
        case complete = "X"
        /// An instant (`i`), on its thread's track.
        case instant = "i"
        /// Counter values (`C`): one counter track per argument.
        case counter = "C"
        /// Metadata (`M`): process and thread names and order.
        case metadata = "M"
    }

    public var name: String
    public var phase: Phase
    public var pid: Int
    public var tid: Int
    /// Nanoseconds since the run's start; written as microseconds.
    public var time: UInt64
    /// `X` only.
    public var duration: UInt64?
    public var args: [(String, JSONValue)]

    public init(_ name: String, _ phase: Phase, pid: Int = 1, tid: Int, time: UInt64, duration: UInt64? = nil,
                args: [(String, JSONValue)] = []) {
        self.name = name
        self.phase = phase
        self.pid = pid
        self.tid = tid
        self.time = time
        self.duration = duration
        self.args = args
    }

    public static func == (a: TraceEvent, b: TraceEvent) -> Bool { a.json == b.json }

    /// One JSON object. Times are microseconds with three decimals (the
    /// format's unit; the decimals keep nanoseconds).
    public var json: String {
        var fields: [(String, String)] = [("name", JSONValue.string(name).serialized), ("ph", "\"\(phase.rawValue)\""),
                                          ("pid", String(pid)), ("tid", String(tid))]
        if phase != .metadata { fields.append(("ts", Self.microseconds(time))) }
        if let duration { fields.append(("dur", Self.microseconds(duration))) }
        // Thread-scoped instants: drawn on their own track.
        if phase == .instant { fields.append(("s", "\"t\"")) }
        if !args.isEmpty { fields.append(("args", JSONValue.object(args).serialized)) }
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    /// `1234567` ns → `1234.567`.
    static func microseconds(_ nanoseconds: UInt64) -> String {
        let fraction = String(nanoseconds % 1000)
        return "\(nanoseconds / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}

/// A trace file: the events of one or more runs (one process each), as the
/// JSON object format `{"traceEvents": [...]}`, one event per line.
public enum TraceDocument {
    public static func json(_ runs: [TraceRecorder]) -> String {
        var lines: [String] = []
        for (index, run) in runs.enumerated() {
            lines += run.traceEvents(pid: index + 1).map(\.json)
        }
        return "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"generator\":\"pvmh\"},\"traceEvents\":[\n"
            + lines.joined(separator: ",\n") + "\n]}\n"
    }
}
