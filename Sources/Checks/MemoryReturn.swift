/// The rules behind "the guest's memory came back", written once: every
/// scenario that measures memory (a lifecycle, a soak, dead child VMMs)
/// judges with these.
enum MemoryReturn {
    /// Guest memory must show while the guest runs (at least half of its
    /// `size`), or its return proves nothing.
    static func held(_ bytes: Int64?, of size: UInt64 = 64 << 20, _ counter: MemoryCounter, by who: String, _ context: CheckContext) -> [String] {
        guard let bytes else { return [] }
        context.note("guest memory held \(who): \(bytes >> 20) MiB (\(counter.rawValue))")
        return bytes >= Int64(size / 2) ? [] : ["the guest's \(size >> 20) MiB did not show in \(counter.rawValue) \(who) (saw \(bytes >> 10) KiB), so its return cannot be checked"]
    }

    /// After `when`, the counter must be back within the tolerance of its
    /// baseline (`drop` bytes above it; nil: the counter is unreadable).
    static func returned(_ drop: Int64?, _ counter: MemoryCounter, after when: String, _ context: CheckContext) -> [String] {
        let tolerance = LifecycleProbe.memoryTolerance
        guard let drop else {
            context.note("/proc/meminfo has no \(counter.rawValue) line: memory return not checked")
            return []
        }
        context.note("guest memory (\(counter.rawValue)) \(drop / 1024) KiB above baseline after \(when) (tolerance \(tolerance >> 20) MiB)")
        guard drop > tolerance else { return [] }
        return ["guest memory was not returned: \(counter.rawValue) is still \(drop >> 20) MiB above its baseline after \(when) (tolerance \(tolerance >> 20) MiB)"]
    }

    /// pKVM protected VMs: the pages pKVM pinned are unpinned again (`above`
    /// the baseline after `when`; nil: /proc/vmstat cannot tell).
    static func unpinned(_ above: Int64?, during: Int64? = nil, after when: String, _ context: CheckContext) -> [String] {
        guard context.isProtectedKVM else { return [] }
        guard let above else {
            context.note("/proc/vmstat has no nr_foll_pin_acquired/released: pinned pages not checked")
            return []
        }
        let sampled = during.map { "pinned once the guest had run: \($0); " } ?? ""
        context.note("pages \(sampled)after \(when): \(above) above baseline\(PinnedPages.isExact ? "" : " (approximate without root: noted, not judged)")")
        guard above > 0 && PinnedPages.isExact else { return [] }
        return ["pKVM still pins \(above) guest page\(above == 1 ? "" : "s") after \(when) (nr_foll_pin_acquired - nr_foll_pin_released above its baseline)"]
    }
}
