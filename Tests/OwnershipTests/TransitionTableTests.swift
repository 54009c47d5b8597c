import Testing
import Ownership

/// A change the ledger accepts or refuses for a range.
enum LedgerOperation: String, Sendable, CaseIterable {
    case share, unshare, addPrivateMemory

    func apply(to ledger: inout OwnershipLedger, _ range: GFNRange) throws(LedgerError) {
        switch self {
        case .share: try ledger.share(range)
        case .unshare: try ledger.unshare(range)
        case .addPrivateMemory: try ledger.addPrivateMemory(range)
        }
    }
}

/// One row of the table: a page in a given state, an operation, and what the
/// ledger must do (pKVM's rules, Docs/kvm-abi.md "pKVM page ownership").
struct TransitionCase: Sendable, CustomTestStringConvertible {
    /// The page's state before the operation; nil means outside guest memory.
    var before: PageState?
    var operation: LedgerOperation
    /// The page's state afterwards, or the error.
    var expected: Result<PageState, LedgerError>

    var testDescription: String {
        let from = before.map(\.rawValue) ?? "outside"
        switch expected {
        case .success(let state): return "\(from) × \(operation.rawValue) → \(state.rawValue)"
        case .failure(let error): return "\(from) × \(operation.rawValue) → \(error)"
        }
    }
}

/// Guest memory is [0x100, 0x110); the page under test is 0x108, or 0x200
/// when it must be outside guest memory.
private let memory = GFNRange(start: 0x100, count: 0x10)
private let inside: UInt64 = 0x108
private let outside: UInt64 = 0x200

private let table: [TransitionCase] = [
    // MEM_SHARE: only a private page may be shared.
    .init(before: .private, operation: .share, expected: .success(.shared)),
    .init(before: .shared, operation: .share, expected: .failure(.notPrivate(gfn: inside, state: .shared))),
    .init(before: .reclaimed, operation: .share, expected: .failure(.tornDown)),
    .init(before: nil, operation: .share, expected: .failure(.outsideGuestMemory(gfn: outside))),
    // MEM_UNSHARE: only a shared page may be unshared.
    .init(before: .private, operation: .unshare, expected: .failure(.notShared(gfn: inside, state: .private))),
    .init(before: .shared, operation: .unshare, expected: .success(.private)),
    .init(before: .reclaimed, operation: .unshare, expected: .failure(.tornDown)),
    .init(before: nil, operation: .unshare, expected: .failure(.outsideGuestMemory(gfn: outside))),
    // Adding memory: only where there is none, and never after teardown.
    .init(before: .private, operation: .addPrivateMemory,
          expected: .failure(.overlapsGuestMemory(GFNRange(start: inside, count: 1)))),
    .init(before: .shared, operation: .addPrivateMemory,
          expected: .failure(.overlapsGuestMemory(GFNRange(start: inside, count: 1)))),
    .init(before: .reclaimed, operation: .addPrivateMemory, expected: .failure(.tornDown)),
    .init(before: nil, operation: .addPrivateMemory, expected: .success(.private)),
]

/// Builds a ledger in which the page under test is in `state`.
private func ledger(withPageIn state: PageState?) throws -> (OwnershipLedger, gfn: UInt64) {
    var ledger = OwnershipLedger()
    try ledger.addPrivateMemory(memory)
    switch state {
    case nil: return (ledger, outside)
    case .private: break
    case .shared: try ledger.share(gfn: inside)
    case .reclaimed: try ledger.share(gfn: inside); ledger.reclaimAll()
    case .host: Issue.record("the ledger never stores host pages")
    }
    #expect(ledger.state(of: inside) == state ?? .private)
    return (ledger, state == nil ? outside : inside)
}

@Suite("Transition table")
struct TransitionTableTests {
    @Test func tableCoversEveryStoredStateAndOperation() {
        let stored: [PageState?] = [.private, .shared, .reclaimed, nil]
        for state in stored {
            for operation in LedgerOperation.allCases {
                #expect(table.contains { $0.before == state && $0.operation == operation },
                        "no row for \(String(describing: state)) × \(operation)")
            }
        }
    }

    @Test(arguments: table)
    func transition(_ row: TransitionCase) throws {
        var (ledger, gfn) = try ledger(withPageIn: row.before)
        let countsBefore = ledger.counts
        let result: Result<Void, LedgerError> = Result { () throws(LedgerError) in
            try row.operation.apply(to: &ledger, GFNRange(start: gfn, count: 1))
        }
        switch (row.expected, result) {
        case (.success(let state), .success):
            #expect(ledger.state(of: gfn) == state)
            #expect(ledger.counts.total == countsBefore.total + (row.before == nil ? 1 : 0))
            if let before = row.before {
                #expect(ledger.counts[before] == countsBefore[before] - 1)
            }
            #expect(ledger.counts[state] == countsBefore[state] + 1)
        case (.failure(let expected), .failure(let error)):
            #expect(error == expected)
            #expect(ledger.state(of: gfn) == row.before)
            #expect(ledger.counts == countsBefore)
        case (.success(let state), .failure(let error)):
            Issue.record("expected the page to become \(state), but the ledger refused: \(error)")
        case (.failure(let expected), .success):
            Issue.record("expected \(expected), but the ledger accepted the change")
        }
        try ledger.checkInvariants()
    }

    /// Teardown takes every stored state to reclaimed and leaves other frames alone.
    @Test(arguments: [PageState.private, .shared, .reclaimed, nil] as [PageState?])
    func reclaimAll(from state: PageState?) throws {
        var (ledger, gfn) = try ledger(withPageIn: state)
        let reclaim = ledger.reclaimAll()
        #expect(ledger.state(of: gfn) == (state == nil ? nil : .reclaimed))
        #expect(reclaim.formerlyShared.contains { $0.contains(gfn) } == (state == .shared))
        #expect(reclaim.formerlyPrivate.contains { $0.contains(gfn) } == (state == .private))
        try ledger.checkInvariants()
    }

    /// Release forgets every page, whatever its state.
    @Test(arguments: [PageState.private, .shared, .reclaimed, nil] as [PageState?])
    func releaseAll(from state: PageState?) throws {
        var (ledger, gfn) = try ledger(withPageIn: state)
        ledger.releaseAll()
        #expect(ledger.state(of: gfn) == nil)
        #expect(ledger.rangeCount == 0)
        try ledger.checkInvariants()
    }
}
