import Testing
import Ownership

@Suite("LedgerError")
struct LedgerErrorTests {
    @Test(arguments: [
        (LedgerError.outsideGuestMemory(gfn: 0x123),
         "gfn 0x123 is outside guest memory, so the ledger has no owner for it"),
        (.outsideGuestMemory(gfn: .max),
         "gfn 0xffffffffffffffff is past the last frame a ledger range can cover, so it can never be guest memory"),
        (.notPrivate(gfn: 0x123, state: .shared),
         "gfn 0x123 is shared, not private, so it cannot be shared again"),
        (.notPrivate(gfn: 0x123, state: .host),
         "gfn 0x123 is host-owned, not private, so it cannot be shared"),
        (.notShared(gfn: 0x40, state: .private),
         "gfn 0x40 is private, not shared, so it cannot be unshared"),
        (.notRelinquishable(gfn: 0x40, state: .shared),
         "gfn 0x40 is shared, not private, so the guest cannot give it back to the host"),
        (.emptyRange,
         "the range has no pages, so there is nothing to change; pass a count of at least 1"),
        (.overlapsGuestMemory(GFNRange(start: 0x10, count: 0x10)),
         "[0x10, 0x20) overlaps guest memory the ledger already covers, so it cannot be added again"),
        (.tornDown,
         "the ledger is torn down (reclaim has started), so no page can change owner and no memory can be added"),
    ])
    func descriptionIsOneSentence(error: LedgerError, sentence: String) {
        #expect(error.description == sentence)
        #expect(!error.description.contains("\n"))
    }

    /// pKVM answers every refused MEM_SHARE/MEM_UNSHARE with INVALID_PARAMETER.
    @Test func everyRefusalIsSMCCCInvalidParameter() {
        let errors: [LedgerError] = [
            .outsideGuestMemory(gfn: 1), .notPrivate(gfn: 1, state: .shared),
            .notShared(gfn: 1, state: .private), .emptyRange,
            .overlapsGuestMemory(GFNRange(start: 1, count: 1)), .tornDown,
        ]
        #expect(errors.allSatisfy { $0.smcccReturnValue == -3 })
    }
}
