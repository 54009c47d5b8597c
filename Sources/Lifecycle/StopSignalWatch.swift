/// SIGINT/SIGTERM as the lifecycle acts on them: the first one seen before
/// teardown interrupts the run (the safe teardown follows); those that arrive
/// once teardown has started are only acknowledged, because teardown runs
/// exactly once, to the end. Used from the lifecycle's thread only.
struct StopSignalWatch {
    /// False when the run installed no handlers (tests): nothing is ever seen.
    let enabled: Bool
    private var acknowledged = 0

    init(enabled: Bool) {
        self.enabled = enabled
    }

    /// The stop signal received so far, if any; from now on it counts as acted on.
    mutating func take() -> Int32? {
        guard enabled, let signal = StopSignals.received else { return nil }
        acknowledged = StopSignals.count
        return signal
    }

    /// Signals not acted on yet: how many, and the first one's number when no
    /// signal was acted on before (nil otherwise). nil when there are none.
    mutating func late() -> (first: Int32?, count: Int)? {
        guard enabled else { return nil }
        let count = StopSignals.count
        guard count > acknowledged else { return nil }
        let first = acknowledged == 0 ? StopSignals.received : nil
        defer { acknowledged = count }
        return (first, count - acknowledged)
    }
}
