import Ownership

/// The check behind the word "private" at reclaim: which pages are probed,
/// and what each probe means. Pure over the ledger's facts and the
/// platform's answers. ("zeroed" covers every page: `Platform.checkZero`.)
enum ReclaimVerification {
    /// At most this many private pages are probed for host isolation.
    static let isolationSample = 8

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
}
