import CKVM
import Glibc

/// Monotonic nanoseconds (CLOCK_MONOTONIC).
public func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

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
public final class Journal: @unchecked Sendable {
    private var lock = pthread_mutex_t()
    private var storage: [JournalEvent] = []
    private var file: UnsafeMutablePointer<FILE>?
    public let path: String?

    /// A journal written to `path` (truncated), or kept in memory only.
    public init(path: String? = nil) throws(LifecycleError) {
        pthread_mutex_init(&lock, nil)
        self.path = path
        if let path {
            guard let handle = fopen(path, "we") else {
                let error = errno
                throw .badInput("cannot open journal file \(path): \(String(cString: strerror(error))); choose a writable path for --journal")
            }
            file = handle
        }
    }

    deinit {
        if let file { fclose(file) }
        pthread_mutex_destroy(&lock)
    }

    /// Appends an event stamped now.
    public func record(_ name: String, _ fields: [(String, JSONValue)] = []) {
        let event = JournalEvent(name: name, timeNanoseconds: monotonicNanoseconds(), fields: fields)
        pthread_mutex_lock(&lock)
        storage.append(event)
        if let file {
            let line = event.jsonLine + "\n"
            fputs(line, file)
            fflush(file)
        }
        pthread_mutex_unlock(&lock)
    }

    /// Flushes and closes the file; later events stay in memory only.
    public func close() {
        pthread_mutex_lock(&lock)
        if let file {
            fclose(file)
            self.file = nil
        }
        pthread_mutex_unlock(&lock)
    }

    public var events: [JournalEvent] {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return storage
    }

    /// Events with this name, in order.
    public func events(named name: String) -> [JournalEvent] { events.filter { $0.name == name } }
}
