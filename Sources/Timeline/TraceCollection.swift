import Synchronization

/// The lifecycles of one `pvmh check` scenario: one trace file for all of
/// them, each run its own process in the timeline, named by the scenario and
/// its number (`teardown.safe-order[model] #1`).
public final class TraceCollection: Sendable {
    public let label: String
    private let runs = Mutex<[TraceRecorder]>([])

    public init(label: String) {
        self.label = label
    }

    /// A recorder for the scenario's next lifecycle.
    public func newRun() -> TraceRecorder {
        runs.withLock { runs in
            let recorder = TraceRecorder(label: "\(label) #\(runs.count + 1)")
            runs.append(recorder)
            return recorder
        }
    }

    public var recorders: [TraceRecorder] { runs.withLock { $0 } }

    /// The trace file's text.
    public var json: String { TraceDocument.json(recorders) }
}
