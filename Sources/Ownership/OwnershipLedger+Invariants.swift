/// The first internal inconsistency ``OwnershipLedger/checkInvariants()`` found.
public struct LedgerInvariantViolation: Error, Equatable, Sendable, CustomStringConvertible {
    /// One sentence naming the broken invariant and the runs involved.
    public var description: String

    /// Creates a violation with its sentence.
    public init(_ description: String) {
        self.description = description
    }
}

extension OwnershipLedger {
    /// Checks the ledger's internal invariants and throws the first violation.
    ///
    /// The storage must be sorted, non-overlapping, free of empty runs and
    /// coalesced (two touching runs never share a state), and its kept page
    /// counts must match the runs. On top of that the teardown rule must hold:
    /// pKVM reclaims the whole VM at once, so before teardown no page is
    /// reclaimed and after it every page is. It costs O(runs); tests run it
    /// after every change, the harness after each lifecycle step.
    ///
    /// - Throws: ``LedgerInvariantViolation``.
    public func checkInvariants() throws {
        if let violation = storageInvariantViolation {
            throw LedgerInvariantViolation(violation)
        }
        let counts = self.counts
        if isTornDown && counts.reclaimed != counts.total {
            throw LedgerInvariantViolation(
                "the ledger is torn down but \(counts.total - counts.reclaimed) pages are not reclaimed")
        }
        if !isTornDown && counts.reclaimed != 0 {
            throw LedgerInvariantViolation(
                "the ledger is not torn down but \(counts.reclaimed) pages are already reclaimed")
        }
    }
}
