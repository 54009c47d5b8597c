import Ownership

/// The check behind the word "private" at reclaim: which pages are probed,
/// and what each probe means. Pure over the ledger's facts and the
/// platform's answers. ("zeroed" covers every page: `Platform.checkZero`.)
enum ReclaimVerification {
    /// How many other private pages are probed where privacy holds from
    /// creation (the VMM-enforced platforms), chosen with the run's seed.
    static let isolationSample = 64

    /// Before reclaim: every private page the guest once shared (it held its
    /// message) and the entry page, all of them; then, where `sampleOthers`,
    /// a seeded sample of the remaining private pages. Under pKVM's lazy
    /// donation an untouched private page is still the host's, so there only
    /// pages the guest used are probed.
    static func isolationCandidates(everShared: Set<UInt64>, entryGFN: UInt64?, in ledger: OwnershipLedger,
                                    sampleOthers: Bool, seed: UInt64) -> (used: [UInt64], sampled: [UInt64]) {
        func isPrivate(_ gfn: UInt64) -> Bool { ledger.state(of: gfn) == .private }
        var used = everShared.filter(isPrivate).sorted()
        if let entryGFN, isPrivate(entryGFN), !used.contains(entryGFN) { used.append(entryGFN) }
        guard sampleOthers else { return (used, []) }
        let privateRanges = ledger.ranges(in: .private)
        let total = privateRanges.reduce(0) { $0 + $1.count }
        let taken = Set(used)
        let wanted = min(UInt64(isolationSample), total - UInt64(taken.count))
        var generator = SplitMix64(seed: seed)
        var sampled = Set<UInt64>()
        var attempts = 0
        while UInt64(sampled.count) < wanted && attempts < isolationSample * 16 {
            attempts += 1
            var index = generator.next() % total
            for range in privateRanges {
                if index < range.count {
                    let gfn = range.start + index
                    if !taken.contains(gfn) { sampled.insert(gfn) }
                    break
                }
                index -= range.count
            }
        }
        return (used, sampled.sorted())
    }

    /// What a host read of a private page must do: fault (or find nothing mapped).
    static func violation(gfn: UInt64, _ access: HostAccess) -> Violation? {
        if case .readable = access { return .privateReadableBeforeReclaim(gfn: gfn) }
        return nil
    }
}
