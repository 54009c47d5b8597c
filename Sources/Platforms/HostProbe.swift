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

    /// Asks the kernel. `probeTransport` runs the vmcall probe guest (~100 ms
    /// where vmcall never completes).
    public static func gather(kvmPath: String = "/dev/kvm", probeTransport: Bool = true) -> HostProbe {
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
            let result = TransportProbe.probe(system: system)
            probe.transport = result.transport
            probe.transportReason = result.reason
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

/// The platforms pvmh knows, in the order `--platform auto` prefers them.
public enum PlatformCatalogue {
    public static func availability(probe: HostProbe) -> [HostProbe.PlatformAvailability] {
        var list: [HostProbe.PlatformAvailability] = []
        #if arch(x86_64)
        let noKVM = probe.kvmError.map { "/dev/kvm is not usable: \($0)" }
        let swProtected = probe.vmTypes.contains(.x86SoftwareProtected)
        list.append(.init(id: "x86_64-sw-protected", name: "x86_64 software-protected VM", available: false,
                          reason: noKVM ?? (swProtected
                            ? "the kernel offers KVM_X86_SW_PROTECTED_VM, but pvmh does not implement this platform yet"
                            : "needs KVM_X86_SW_PROTECTED_VM in KVM_CAP_VM_TYPES (this kernel offers \(probe.vmTypes.map(\.description).joined(separator: ", ")))")))
        let gmem = probe.capability(.guestMemfd) ?? 0
        let flags = probe.guestMemfdFlags ?? []
        let transport = probe.transport.map { ", share/unshare via \($0.rawValue)" } ?? ""
        let gmemReason: String
        let gmemOK: Bool
        if let noKVM {
            gmemReason = noKVM
            gmemOK = false
        } else if gmem == 0 {
            gmemReason = "needs KVM_CAP_GUEST_MEMFD (Linux 6.8+)"
            gmemOK = false
        } else if !flags.isSuperset(of: [.mmap, .initShared]) {
            gmemReason = "needs guest_memfd flags MMAP|INIT_SHARED (Linux 6.18+); this kernel accepts \(flags)"
            gmemOK = false
        } else if (probe.capability(.userMemory2) ?? 0) == 0 {
            gmemReason = "needs KVM_CAP_USER_MEMORY2"
            gmemOK = false
        } else {
            gmemReason = "guest_memfd MMAP|INIT_SHARED and memslots v2 work; the VMM enforces privacy with a PROT_NONE host view" + transport
            gmemOK = true
        }
        list.append(.init(id: "x86_64-gmem", name: "x86_64 KVM + guest_memfd", available: gmemOK, reason: gmemReason, backend: .guestMemfd))
        let memslots = (probe.capability(.userMemory2) ?? 0) > 0 ? "memslots v2" : "memslots v1"
        list.append(.init(id: "x86_64-memfd", name: "x86_64 KVM + memfd", available: noKVM == nil,
                          reason: noKVM ?? "every KVM takes memfd (shmem) memory in a plain memslot (\(memslots) here); the VMM enforces privacy with a PROT_NONE host view" + transport,
                          backend: .memfd))
        #elseif arch(arm64)
        list += ARM64PlatformCatalogue.availability(probe: probe)
        #endif
        return list
    }
}
