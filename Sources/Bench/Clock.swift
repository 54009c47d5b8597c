import System


/// Runs `body` and returns its wall time in nanoseconds.
@inline(__always)
func timed(_ body: () throws -> Void) rethrows -> Double {
    let start = monotonicNanoseconds()
    try body()
    return Double(monotonicNanoseconds() - start)
}
