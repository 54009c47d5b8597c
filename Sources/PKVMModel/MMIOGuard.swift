import Synchronization

/// Android pKVM's MMIO guard for one VM (Docs/kvm-abi.md, "Android's
/// protected-VM ABI"): once the guest enrolls, EL2 forwards its MMIO access
/// to the host only for granules the guest has mapped with MMIO_GUARD_MAP
/// (an `MMIO_NOTE` annotation in its stage-2); any other access gets a
/// synchronous external abort back, and the host never sees it. Modelled on
/// android14-6.1: MAP is idempotent, refuses IPAs where the guest's stage-2
/// maps memory, unaligned IPAs and anything before ENROLL; UNMAP succeeds
/// whenever the VM is enrolled (for the granule holding the IPA).
public final class MMIOGuard: Sendable {
    private struct State {
        var enrolled = false
        var guarded = Set<UInt64>()
    }

    public let granule: UInt64
    private let state = Mutex(State())
    /// Set once with `state.enrolled`, so every MMIO access of a guest that
    /// never enrolls (upstream's, or Android's before ENROLL) costs one load.
    private let enrolled = Atomic(false)

    public init(granule: UInt64 = 4096) {
        self.granule = granule
    }

    /// Why MAP or UNMAP was refused (the guest sees INVALID_PARAMETER).
    public enum Refusal: Error, Equatable, Sendable, CustomStringConvertible {
        case notEnrolled
        case unaligned(ipa: UInt64)
        case memory(ipa: UInt64)

        public var description: String {
            switch self {
            case .notEnrolled: "the VM has not enrolled in the MMIO guard"
            case .unaligned(let ipa): "IPA 0x\(String(ipa, radix: 16)) is not granule aligned"
            case .memory(let ipa): "IPA 0x\(String(ipa, radix: 16)) is guest memory, not MMIO"
            }
        }
    }

    public var isEnrolled: Bool { enrolled.load(ordering: .acquiring) }

    /// The granules the guest has mapped, as IPAs, in order.
    public var guardedIPAs: [UInt64] { state.withLock { $0.guarded.sorted().map { $0 * granule } } }

    /// MMIO_GUARD_ENROLL: from now on only guarded granules reach the host.
    public func enroll() {
        state.withLock { $0.enrolled = true }
        enrolled.store(true, ordering: .releasing)
    }

    /// MMIO_GUARD_MAP of the granule at `ipa`; `isMemory` says whether the
    /// guest's stage-2 maps memory there (EL2 refuses to annotate it; a page
    /// the guest gave back maps nothing, and may be guarded).
    public func map(ipa: UInt64, isMemory: Bool) throws(Refusal) {
        let granule = self.granule
        let refusal: Refusal? = state.withLock { state in
            guard state.enrolled else { return .notEnrolled }
            guard ipa % granule == 0 else { return .unaligned(ipa: ipa) }
            guard !isMemory else { return .memory(ipa: ipa) }
            state.guarded.insert(ipa / granule)
            return nil
        }
        if let refusal { throw refusal }
    }

    /// MMIO_GUARD_UNMAP: removes the annotation if there is one; success
    /// either way once enrolled.
    public func unmap(ipa: UInt64) throws(Refusal) {
        let granule = self.granule
        let enrolled = state.withLock { state in
            guard state.enrolled else { return false }
            state.guarded.remove(ipa / granule)
            return true
        }
        if !enrolled { throw .notEnrolled }
    }

    /// Whether an MMIO access of `size` bytes at `address` reaches the host:
    /// always before enrolment, afterwards only if every granule it touches
    /// is guarded.
    public func permits(address: UInt64, size: Int) -> Bool {
        let granule = self.granule
        guard enrolled.load(ordering: .acquiring) else { return true }
        let last = address &+ UInt64(max(size, 1) - 1)
        return state.withLock { state in
            guard state.enrolled else { return true }
            return state.guarded.contains(address / granule) && state.guarded.contains(last / granule)
        }
    }
}
