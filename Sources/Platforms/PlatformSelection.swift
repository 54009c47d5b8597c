import KVM
import Lifecycle

/// What `--platform` asked for.
public enum PlatformRequest: String, Sendable, CaseIterable {
    case auto
    case kvm
    /// The pKVM model (software EL2 + A64 interpreter): runs anywhere.
    case model
}

/// Turns a request into a platform instance, or a one-sentence refusal.
/// Which KVM platform is the probe's choice (`HostProbe.selected`, the first
/// available row of `PlatformCatalogue` — strongest isolation first: on
/// arm64 the pKVM protected VM, then KVM + guest_memfd, then KVM + memfd; on
/// x86_64 KVM + guest_memfd, then KVM + memfd), narrowed by `--memory-backend`
/// or named exactly by id (the regression suite runs each one). The
/// catalogue entry makes the instance; nothing here knows the platforms.
public enum PlatformSelection {
    /// The id of the KVM platform a request resolves to on this host.
    /// `platformID` names one exactly; otherwise the first available one
    /// whose backend is `backend` (any backend when nil).
    public static func resolve(probe: HostProbe, backend: RAMBackend? = nil, platformID: String? = nil) throws(LifecycleError) -> HostProbe.PlatformAvailability {
        if let platformID {
            guard let row = probe.platforms.first(where: { $0.id == platformID }) else {
                throw .platformUnavailable("platform \(platformID) is not one this build of pvmh knows (\(probe.platforms.map(\.id).joined(separator: ", ")))")
            }
            guard row.available else { throw .platformUnavailable("\(row.id) cannot run here: \(row.reason)") }
            return row
        }
        let candidates = probe.platforms.filter { backend == nil || $0.backend == backend }
        if let row = candidates.first(where: \.available) { return row }
        if let backend {
            let reasons = candidates.map { "\($0.id): \($0.reason)" }.joined(separator: "; ")
            throw .platformUnavailable("no KVM platform here can back guest RAM with \(backend) (\(reasons)); leave out --memory-backend to take the strongest this host has")
        }
        throw .platformUnavailable("no KVM platform is usable here: \(probe.selectionReason)")
    }

    public static func make(_ request: PlatformRequest, probe: HostProbe, kvmPath: String = "/dev/kvm",
                            transport requested: HypercallTransport? = nil, firmware: FirmwareChoice = .none,
                            backend: RAMBackend? = nil, platformID: String? = nil) throws(LifecycleError) -> Platform {
        let row = try resolve(probe: probe, backend: backend, platformID: platformID)
        if firmware != .none, row.id != ARM64ProtectedPlatform.platformID {
            throw .badInput("--firmware applies to protected VMs only (arm64 pKVM); this run's platform is \(row.id)")
        }
        let system: KVMSystem
        do {
            system = try KVMSystem(path: kvmPath)
        } catch {
            throw .platformUnavailable(error.description)
        }
        guard let entry = PlatformCatalogue.entry(row.id) else {
            try? system.fd.close()
            throw .platformUnavailable("platform \(row.id) is not implemented")
        }
        do {
            return try entry.make(system, probe, PlatformOptions(transport: requested, firmware: firmware))
        } catch {
            try? system.fd.close()
            throw error
        }
    }
}
