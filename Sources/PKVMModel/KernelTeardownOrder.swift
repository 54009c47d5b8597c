/// The order the model's host kernel runs VM destruction in. pKVM needs the
/// hypervisor to reclaim (and scrub) every page before guest_memfd hands the
/// pages back to the host allocator; the guest_memfd v13 review found a path
/// where unbind ran first, so the host reused pages the guest still owned.
public enum KernelTeardownOrder: String, Sendable, CaseIterable {
    /// Reclaim (start teardown → reclaim each page → finalize), then unbind.
    case correct
    /// The broken order: unbind (pages to the host allocator, which reuses
    /// them) before the hypervisor reclaims.
    case unbindBeforeReclaim = "unbind-before-reclaim"
}

/// How the model behaves.
public struct ModelConfiguration: Sendable {
    public var kernelOrder: KernelTeardownOrder
    /// False: a hypervisor without pKVM's vendor calls (they answer NOT_SUPPORTED).
    public var vendorCalls: Bool
    /// Instructions per interpreter slice between checks for a stop request.
    public var sliceInstructions: Int

    public init(kernelOrder: KernelTeardownOrder = .correct, vendorCalls: Bool = true, sliceInstructions: Int = 200_000) {
        self.kernelOrder = kernelOrder
        self.vendorCalls = vendorCalls
        self.sliceInstructions = sliceInstructions
    }
}
