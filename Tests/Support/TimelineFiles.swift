import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A trace file pvmh wrote, read back with Foundation's JSON parser and
/// checked against the Chrome trace-event format's rules (Docs/trace.md).
public struct TraceFile {
    public struct Event {
        public var name: String
        public var phase: String
        public var pid: Int
        public var tid: Int
        /// Microseconds.
        public var ts: Double?
        public var dur: Double?
        public var args: [String: Any]

        public func string(_ key: String) -> String? { args[key] as? String }
        public func number(_ key: String) -> Double? {
            guard let value = args[key], !(value is String) else { return nil }
            return (value as? NSNumber)?.doubleValue
        }
    }

    public let events: [Event]
    /// Every way the file breaks the format's rules; empty for a good file.
    public private(set) var problems: [String] = []

    public init(_ text: String) throws {
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
        guard let top = object as? [String: Any], let list = top["traceEvents"] as? [Any] else {
            events = []
            problems = ["the file is not an object with a traceEvents array"]
            return
        }
        var events: [Event] = []
        var problems: [String] = []
        for (index, item) in list.enumerated() {
            guard let fields = item as? [String: Any], let name = fields["name"] as? String, let phase = fields["ph"] as? String,
                  let pid = (fields["pid"] as? NSNumber)?.intValue, let tid = (fields["tid"] as? NSNumber)?.intValue else {
                problems.append("event \(index) lacks name, ph, pid or tid: \(item)")
                continue
            }
            let ts = (fields["ts"] as? NSNumber)?.doubleValue
            let dur = (fields["dur"] as? NSNumber)?.doubleValue
            events.append(Event(name: name, phase: phase, pid: pid, tid: tid, ts: ts, dur: dur, args: fields["args"] as? [String: Any] ?? [:]))
            switch phase {
            case "M":
                if !["process_name", "thread_name", "process_sort_index", "thread_sort_index"].contains(name) || fields["args"] == nil {
                    problems.append("metadata event \(index) \(name) is not one the format defines, or has no args")
                }
            case "B", "E", "X", "i", "C":
                guard let ts, ts >= 0 else { problems.append("event \(index) \(name) (\(phase)) has no timestamp ≥ 0"); continue }
                if phase == "X", (dur ?? -1) < 0 { problems.append("slice \(index) \(name) has no duration ≥ 0") }
                if phase == "i", !["t", "p", "g"].contains(fields["s"] as? String ?? "t") { problems.append("instant \(index) has a bad scope") }
                if phase == "C" {
                    let values = fields["args"] as? [String: Any] ?? [:]
                    if values.isEmpty || values.values.contains(where: { $0 is String || $0 is [Any] || $0 is [String: Any] || ($0 as? NSNumber) == nil }) {
                        problems.append("counter \(index) \(name) has a value that is not a number: \(values)")
                    }
                }
            default:
                problems.append("event \(index) \(name) uses phase \(phase), which pvmh does not write")
            }
        }
        self.events = events
        self.problems = problems + Self.trackProblems(events)
    }

    /// Per track: times never go back, B/E balance, and slices nest.
    static func trackProblems(_ events: [Event]) -> [String] {
        var problems: [String] = []
        var last: [String: Double] = [:]
        // Open slices per track: (name, end; nil for B until its E).
        var stacks: [String: [(String, Double?)]] = [:]
        for event in events where event.phase != "M" {
            let ts = event.ts ?? 0
            let key = event.phase == "C" ? "\(event.pid)/counter \(event.name)" : "\(event.pid)/\(event.tid)"
            if ts < last[key, default: 0] { problems.append("track \(key): \(event.name) at \(ts) µs goes back in time") }
            last[key] = ts
            guard event.phase != "C" else { continue }
            var stack = stacks[key, default: []]
            // Microseconds with three decimals: sums of them in Double are
            // exact only to about a nanosecond.
            while let top = stack.last, let end = top.1, end <= ts + 0.0005 { stack.removeLast() }
            switch event.phase {
            case "B":
                stack.append((event.name, nil))
            case "E":
                while let top = stack.last, top.1 != nil { stack.removeLast() }
                if stack.isEmpty { problems.append("track \(key): E \(event.name) at \(ts) µs ends no open slice") } else { stack.removeLast() }
            case "X":
                let end = ts + (event.dur ?? 0)
                if let top = stack.last, let enclosing = top.1, end > enclosing + 0.0005 {
                    problems.append("track \(key): slice \(event.name) crosses the end of \(top.0)")
                }
                stack.append((event.name, end))
            default:
                break
            }
            stacks[key] = stack
        }
        for (key, stack) in stacks where stack.contains(where: { $0.1 == nil }) {
            problems.append("track \(key): \(stack.filter { $0.1 == nil }.map(\.0)) begun and never ended")
        }
        return problems
    }

    /// The tid of the track named `name` in process `pid`.
    public func tid(of name: String, pid: Int = 1) -> Int? {
        events.first { $0.phase == "M" && $0.name == "thread_name" && $0.pid == pid && $0.string("name") == name }?.tid
    }

    /// The events on one named track, in file order (metadata left out).
    public func track(_ name: String, pid: Int = 1) -> [Event] {
        guard let tid = tid(of: name, pid: pid) else { return [] }
        return events.filter { $0.pid == pid && $0.tid == tid && $0.phase != "M" }
    }

    /// Each share/unshare on the memory track: "share gfn=0x108 pages=1 ok".
    public func memoryRequests(pid: Int = 1) -> [String] {
        track("memory", pid: pid).filter { $0.name.hasPrefix("share") || $0.name.hasPrefix("unshare") }.map { event in
            let operation = event.name.hasPrefix("share") ? "share" : "unshare"
            return "\(operation) gfn=0x\(String(UInt64(event.number("gfn") ?? -1), radix: 16)) pages=\(Int(event.number("pages") ?? -1)) \(event.string("answer") ?? "?")"
        }
    }

    /// The teardown steps' slices on the lifecycle track, in order.
    public func teardownSteps(pid: Int = 1) -> [Event] {
        let steps: Set<String> = ["stop-vcpus", "reclaim", "unbind", "release", "destroy"]
        return track("lifecycle", pid: pid).filter { $0.phase == "X" && steps.contains($0.name) }
    }

    /// The page counters in time order.
    public func counters(pid: Int = 1) -> [Event] {
        events.filter { $0.pid == pid && $0.phase == "C" }
    }
}

/// An ownership map pvmh drew, read back with Foundation's XML parser.
public struct MapFile {
    public struct Block: Equatable {
        public var gfn: UInt64
        public var pages: UInt64
        public var state: String
        public var first: Int
        public var last: Int
        public var height: Double
    }
    public struct Column: Equatable {
        public var index: Int
        public var point: String
        public var timeNanoseconds: UInt64
    }

    public let blocks: [Block]
    public let columns: [Column]
    public let texts: [String]
    public let rootName: String

    public init(_ text: String) throws {
        let delegate = Reader()
        let parser = XMLParser(data: Data(text.utf8))
        parser.delegate = delegate
        guard parser.parse() else {
            throw ParseFailure(description: "not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?") at line \(parser.lineNumber)")
        }
        blocks = delegate.blocks
        columns = delegate.columns
        texts = delegate.texts
        rootName = delegate.root ?? ""
    }

    public struct ParseFailure: Error, CustomStringConvertible {
        public var description: String
    }

    /// What column `index` draws: "gfn+pages state" pieces in frame order.
    public func pieces(at index: Int) -> [String] {
        blocks.filter { $0.first <= index && index <= $0.last }.sorted { $0.gfn < $1.gfn }
            .map { "0x\(String($0.gfn, radix: 16))+\($0.pages) \($0.state)" }
    }

    private final class Reader: NSObject, XMLParserDelegate {
        var blocks: [Block] = []
        var columns: [Column] = []
        var texts: [String] = []
        var root: String?
        private var text: String?

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            if root == nil { root = name }
            if name == "rect", let state = attributes["data-state"], let gfn = attributes["data-gfn"], let pages = attributes["data-pages"],
               let first = attributes["data-first"], let last = attributes["data-last"] {
                blocks.append(Block(gfn: UInt64(gfn.dropFirst(2), radix: 16) ?? .max, pages: UInt64(pages) ?? 0, state: state,
                                    first: Int(first) ?? -1, last: Int(last) ?? -1, height: Double(attributes["height"] ?? "") ?? 0))
            }
            if name == "g", let column = attributes["data-column"], let point = attributes["data-point"] {
                columns.append(Column(index: Int(column) ?? -1, point: point, timeNanoseconds: UInt64(attributes["data-time-ns"] ?? "") ?? 0))
            }
            if name == "text" { text = "" }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            text? += string
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if name == "text", let text { texts.append(text) }
            if name == "text" { text = nil }
        }
    }
}
