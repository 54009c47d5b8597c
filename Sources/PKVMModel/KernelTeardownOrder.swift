import GuestImage
import Lifecycle
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
    /// How the guests' vendor hypercalls travel: `hvc` (pKVM's way), or the
    /// harness doorbell the arm64 KVM platforms use without the SMCCC
    /// filter, so that path runs end to end on any host (EL2 answers either way).
    public var guestTransport: ARM64GuestProtocol.Transport
    /// Whose pKVM the model's EL2 is: upstream's vendor calls, or Android's
    /// (MEM_RELINQUISH and the MMIO guard as well).
    public var flavour: PKVMFlavour
    /// What vCPU 0 runs first (Android's pKVM only): none, or a firmware
    /// file placed and started as on the real platform (`FirmwareRegion`).
    public var firmware: FirmwareChoice

    public init(kernelOrder: KernelTeardownOrder = .correct, vendorCalls: Bool = true, sliceInstructions: Int = 200_000,
                guestTransport: ARM64GuestProtocol.Transport = .hvc, flavour: PKVMFlavour = .upstream, firmware: FirmwareChoice = .none) {
        self.firmware = firmware
        self.kernelOrder = kernelOrder
        self.vendorCalls = vendorCalls
        self.flavour = flavour
        self.sliceInstructions = sliceInstructions
        self.guestTransport = guestTransport
    }
}
