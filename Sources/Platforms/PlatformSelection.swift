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
public enum PlatformSelection {
    public static func make(_ request: PlatformRequest, probe: HostProbe, kvmPath: String = "/dev/kvm",
                            transport requested: HypercallTransport? = nil) throws(LifecycleError) -> Platform {
        guard let selected = probe.selected else {
            throw .platformUnavailable("no platform can run here: \(probe.selectionReason)")
        }
        #if arch(x86_64)
        guard selected == "x86_64-gmem" else {
            throw .platformUnavailable("platform \(selected) is not implemented")
        }
        let system: KVMSystem
        do {
            system = try KVMSystem(path: kvmPath)
        } catch {
            throw .platformUnavailable(error.description)
        }
        let transport: HypercallTransport
        let reason: String
        if let requested {
            transport = requested
            reason = "chosen with --transport"
        } else if let probed = probe.transport {
            transport = probed
            reason = probe.transportReason ?? ""
        } else {
            let result = TransportProbe.probe(system: system)
            transport = result.transport
            reason = result.reason
        }
        return X86GuestMemfdPlatform(system: system, transport: transport, transportReason: reason)
        #else
        throw .platformUnavailable("no KVM platform is implemented for this architecture yet; use --platform model")
        #endif
    }
}
