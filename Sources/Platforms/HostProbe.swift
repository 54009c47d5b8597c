import Glibc
import KVM
import Lifecycle

/// What this host offers for protected VMs, gathered by asking the kernel
/// (never assumed from the architecture or kernel version).
public struct HostProbe: Sendable {
    public struct CapabilityValue: Sendable {
        public var capability: Capability
        public var value: Int?
    }

    /// One platform and whether `run` can use it here.
    public struct PlatformAvailability: Sendable {
        public var id: String
        public var name: String
        public var available: Bool
        /// Why (not) — one sentence.
        public var reason: String
        /// The file behind guest RAM (nil: the platform has no choice to make).
        public var backend: RAMBackend?

        public init(id: String, name: String, available: Bool, reason: String, backend: RAMBackend? = nil) {
            self.id = id
            self.name = name
            self.available = available
            self.reason = reason
            self.backend = backend
        }
    }

    public var architecture: String
    public var kernelRelease: String
    public var kvmPath = "/dev/kvm"
    /// nil if /dev/kvm could not be opened; `kvmError` says why.
    public var apiVersion: Int?
    public var kvmError: String?
    public var capabilities: [CapabilityValue] = []
    public var vmTypes: [VMType] = []
    public var guestMemfdFlags: GuestMemfdFlags?
    public var memoryAttributes: UInt64?
    public var transport: HypercallTransport?
    public var transportReason: String?
    /// Where the transport answer came from: this run's probe, or the cache
    /// of this boot (x86_64; nil where no transport was asked for).
    public var transportCachePath: String?
    /// arm64 only: kvm-arm.mode, protected-VM and SMCCC-filter probes, memlock.
    public var arm64: ARM64HostFacts?
    public var platforms: [PlatformAvailability] = []
    /// The platform `run --platform auto` picks, and why.
    public var selected: String?
    public var selectionReason: String

    /// A probe with nothing gathered yet (tests build synthetic ones from it).
    public init(architecture: String, kernelRelease: String) {
        self.architecture = architecture
        self.kernelRelease = kernelRelease
        selectionReason = ""
    }

    public func capability(_ capability: Capability) -> Int? {
        capabilities.first { $0.capability == capability }?.value ?? nil
    }

    /// Asks the kernel. `probeTransport` finds the x86 hypercall transport:
    /// from this boot's cache, or (the first time, or with `refreshTransport`)
    /// by running the vmcall probe guest (~100 ms where vmcall never completes).
    public static func gather(kvmPath: String = "/dev/kvm", probeTransport: Bool = true, refreshTransport: Bool = false) -> HostProbe {
        var uts = utsname()
        uname(&uts)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        }
        var probe = HostProbe(architecture: field(uts.machine), kernelRelease: field(uts.release))
        probe.kvmPath = kvmPath
        let system: KVMSystem
        do {
            system = try KVMSystem(path: kvmPath)
        } catch {
            probe.kvmError = error.description
            probe.platforms = PlatformCatalogue.availability(probe: probe)
            probe.choose()
            return probe
        }
        probe.apiVersion = try? system.apiVersion()
        for capability in Capability.reported {
            probe.capabilities.append(CapabilityValue(capability: capability, value: try? system.check(capability)))
        }
        #if arch(x86_64)
        if let bitmap = probe.capability(.vmTypes), bitmap > 0 {
            probe.vmTypes = VMType.fromBitmap(bitmap)
        } else {
            probe.vmTypes = [.default]
        }
        #elseif arch(arm64)
        // No capability advertises protected VMs: creating one is the test
        // (and taints the kernel where it succeeds; the facts say so).
        let facts = ARM64HostFacts.gather(system: system)
        probe.arm64 = facts
        probe.vmTypes = facts.protectedVM.isAccepted ? [.default, .armProtected] : [.default]
        #endif
        if let flags = probe.capability(.guestMemfdFlags) { probe.guestMemfdFlags = GuestMemfdFlags(rawValue: UInt64(flags)) }
        if let attributes = probe.capability(.memoryAttributes) { probe.memoryAttributes = UInt64(attributes) }
        #if arch(x86_64)
        if probeTransport {
            let (result, source) = TransportCache.transport(system: system, kvmPath: kvmPath, refresh: refreshTransport)
            probe.transport = result.transport
            probe.transportReason = result.reason
            if case .cached(let path) = source { probe.transportCachePath = path }
        }
        #endif
        probe.platforms = PlatformCatalogue.availability(probe: probe)
        probe.choose()
        return probe
    }

    /// Picks the first available platform (the catalogue's order is the preference).
    public mutating func choose() {
        if let first = platforms.first(where: \.available) {
            selected = first.id
            selectionReason = "\(first.name): \(first.reason)"
        } else {
            selected = nil
            selectionReason = platforms.map { "\($0.id): \($0.reason)" }.joined(separator: "; ")
        }
    }
}

/// What `pvmh run` asked of a KVM platform beyond the platform itself.
public struct PlatformOptions: Equatable, Sendable {
    /// `--transport` (x86_64): nil lets the probe choose.
    public var transport: HypercallTransport?
    /// `--firmware` (arm64 pKVM on Android).
    public var firmware: FirmwareChoice

    public init(transport: HypercallTransport? = nil, firmware: FirmwareChoice = .none) {
        self.transport = transport
        self.firmware = firmware
    }
}

/// One platform pvmh knows: whether (and why) this host can run it, and how
/// to make an instance. Each platform's file declares its entries; adding a
/// platform is that file plus one line in `PlatformCatalogue.entries`.
public struct PlatformEntry: Sendable {
    public let id: String
    /// Whether and why this host can run it: pure over the probe.
    public let availability: @Sendable (HostProbe) -> HostProbe.PlatformAvailability
    /// A new instance (no VM yet) on an open /dev/kvm, with what the user
    /// asked for where the platform has a choice.
    let make: @Sendable (KVMSystem, HostProbe, PlatformOptions) throws(LifecycleError) -> Platform

    init(id: String, availability: @escaping @Sendable (HostProbe) -> HostProbe.PlatformAvailability,
         make: @escaping @Sendable (KVMSystem, HostProbe, PlatformOptions) throws(LifecycleError) -> Platform) {
        self.id = id
        self.availability = availability
        self.make = make
    }

    /// The sentence every row gives when /dev/kvm does not open.
    static func noKVM(_ probe: HostProbe) -> String? {
        probe.kvmError.map { "/dev/kvm is not usable: \($0)" }
    }
}

/// The platforms pvmh knows, in the order `--platform auto` prefers them:
/// the strongest isolation first.
public enum PlatformCatalogue {
    public static var entries: [PlatformEntry] {
        #if arch(x86_64)
        [X86SoftwareProtectedEntry.entry, X86KVMPlatform.entry(.guestMemfd), X86KVMPlatform.entry(.memfd)]
        #elseif arch(arm64)
        ARM64PlatformCatalogue.entries
        #else
        []
        #endif
    }

    public static func availability(probe: HostProbe) -> [HostProbe.PlatformAvailability] {
        entries.map { $0.availability(probe) }
    }

    public static func entry(_ id: String) -> PlatformEntry? {
        entries.first { $0.id == id }
    }
}
