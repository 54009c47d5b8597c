@_exported import System
import Glibc
import Synchronization

/// One journal record: an event name, a monotonic timestamp, and fields.
public struct JournalEvent: Sendable, Equatable {
    public var name: String
    public var timeNanoseconds: UInt64
    public var fields: [(String, JSONValue)]

    public static func == (lhs: JournalEvent, rhs: JournalEvent) -> Bool {
        lhs.jsonLine == rhs.jsonLine
    }

    public subscript(key: String) -> JSONValue? { fields.first { $0.0 == key }?.1 }

    /// The JSON Lines form: `{"event":…,"t_ns":…,…}`.
    public var jsonLine: String {
        JSONValue.object([("event", .string(name)), ("t_ns", .uint(timeNanoseconds))] + fields).serialized
    }
}

/// The run's journal: every lifecycle step, guest request and teardown step,
/// in order, kept in memory and (optionally) written as JSON Lines as it
/// happens, so a crash or a signal still leaves a readable prefix.
/// Thread-safe: vCPU threads record share/unshare events.
public final class Journal: Sendable {
    private struct State {
        var events: [JournalEvent] = []
        var file: UnsafeMutablePointer<FILE>?
    }
    private let state: Mutex<State>
    public let path: String?

    /// A journal written to `path` (truncated), or kept in memory only.
    public init(path: String? = nil) throws(LifecycleError) {
        self.path = path
        var file: UnsafeMutablePointer<FILE>?
        if let path {
            guard let handle = fopen(path, "we") else {
                let error = errno
                throw .badInput("cannot open journal file \(path): \(String(cString: strerror(error))); choose a writable path for --journal")
            }
            file = handle
        }
        state = Mutex(State(file: file))
    }

    deinit {
        state.withLock { if let file = $0.file { fclose(file) } }
    }

    /// Appends an event stamped now (and writes its line, flushed).
    public func record(_ name: String, _ fields: [(String, JSONValue)] = []) {
        let event = JournalEvent(name: name, timeNanoseconds: monotonicNanoseconds(), fields: fields)
        state.withLock { state in
            state.events.append(event)
            if let file = state.file {
                fputs(event.jsonLine + "\n", file)
                fflush(file)
            }
        }
    }

    /// Flushes and closes the file; later events stay in memory only.
    public func close() {
        state.withLock { state in
            if let file = state.file { fclose(file) }
            state.file = nil
        }
    }

    public var events: [JournalEvent] { state.withLock { $0.events } }

    /// Events with this name, in order.
    public func events(named name: String) -> [JournalEvent] { events.filter { $0.name == name } }
}
