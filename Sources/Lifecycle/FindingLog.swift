import Glibc

/// What a platform itself detected going wrong (a host access to a page it
/// does not own, a guest claim the host view contradicts, the ledger and the
/// hypervisor disagreeing): kept for `Platform.findings` and journaled as it
/// happens. Thread-safe: vCPU threads record into it.
public final class FindingLog: @unchecked Sendable {
    private var lock = pthread_mutex_t()
    private var items: [String] = []
    /// The journal event each finding is recorded as, e.g. `model.fault`.
    public let event: String

    public init(event: String) {
        self.event = event
        pthread_mutex_init(&lock, nil)
    }

    deinit { pthread_mutex_destroy(&lock) }

    public func record(_ text: String, _ fields: [(String, JSONValue)] = [], journal: Journal?) {
        pthread_mutex_lock(&lock)
        items.append(text)
        pthread_mutex_unlock(&lock)
        journal?.record(event, fields + [("message", .string(text))])
    }

    public var all: [String] {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return items
    }
}
