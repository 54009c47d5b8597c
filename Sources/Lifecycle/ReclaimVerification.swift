import Ownership

/// The checks behind the words "private" and "zeroed" at reclaim: which pages
/// are probed, and what each read means. Pure over the ledger's facts and the
/// platform's answers.
enum ReclaimVerification {
    /// At most this many private pages are probed for host isolation.
    static let isolationSample = 8
    /// At most this many reclaimed pages are read back.
    static let zeroSample = 64

    /// Before reclaim: the private pages the guest once shared (they held its
    /// message), then the entry page.
    static func isolationCandidates(everShared: Set<UInt64>, entryGFN: UInt64?, isPrivate: (UInt64) -> Bool) -> [UInt64] {
        var candidates = everShared.filter(isPrivate).sorted()
        if let entryGFN, isPrivate(entryGFN), !candidates.contains(entryGFN) { candidates.append(entryGFN) }
        return Array(candidates.prefix(isolationSample))
    }

    /// What a host read of a private page must do: fault (or find nothing mapped).
    static func violation(gfn: UInt64, _ access: HostAccess) -> Violation? {
        if case .readable = access { return .privateReadableBeforeReclaim(gfn: gfn) }
        return nil
    }

    /// After reclaim: the formerly private pages the guest shared once, the
    /// entry page, and the first page of each private range.
    static func zeroCandidates(_ reclaimed: Reclaim, everShared: Set<UInt64>, entryGFN: UInt64?) -> [UInt64] {
        func wasPrivate(_ gfn: UInt64) -> Bool { reclaimed.formerlyPrivate.contains { $0.contains(gfn) } }
        var candidates = Set(everShared.filter(wasPrivate))
        if let entryGFN, wasPrivate(entryGFN) { candidates.insert(entryGFN) }
        for range in reclaimed.formerlyPrivate.prefix(16) { candidates.insert(range.start) }
        return Array(candidates.sorted().prefix(zeroSample))
    }

    /// A reclaimed page's bytes must all be zero.
    static func violation(gfn: UInt64, reading: Result<[UInt8], LifecycleError>) -> Violation? {
        switch reading {
        case .success(let bytes):
            guard let offset = bytes.firstIndex(where: { $0 != 0 }) else { return nil }
            return .notZeroAfterReclaim(gfn: gfn, offset: offset, byte: bytes[offset])
        case .failure(let error):
            return .reclaimedPageUnreadable(gfn: gfn, error: error.description)
        }
    }
}
