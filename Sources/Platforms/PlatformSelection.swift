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
/// Which KVM platform is the probe's choice (`HostProbe.selected`): on arm64
/// the pKVM protected VM, then arm64 KVM + guest_memfd; on x86_64, x86_64
/// KVM + guest_memfd. The CLI falls back to the model when none is usable.
public enum PlatformSelection {
    #if arch(x86_64)
    static let x86Platforms = ["x86_64-gmem"]
    #else
    static let x86Platforms: [String] = []
    #endif

    public static func make(_ request: PlatformRequest, probe: HostProbe, kvmPath: String = "/dev/kvm",
                            transport requested: HypercallTransport? = nil) throws(LifecycleError) -> Platform {
        guard let selected = probe.selected else {
            throw .platformUnavailable("no platform can run here: \(probe.selectionReason)")
        }
        let known = ["arm64-pkvm", "arm64-gmem"] + x86Platforms
        guard known.contains(selected) else {
            throw .platformUnavailable("platform \(selected) is not implemented")
        }
        let system: KVMSystem
        do {
            system = try KVMSystem(path: kvmPath)
        } catch {
            throw .platformUnavailable(error.description)
        }
        switch selected {
        case "arm64-pkvm":
            return ARM64ProtectedPlatform(system: system)
        case "arm64-gmem":
            return ARM64GuestMemfdPlatform(system: system)
        default:
            break
        }
        #if arch(x86_64)
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
        throw .platformUnavailable("platform \(selected) needs an x86_64 build of pvmh")
        #endif
    }
}
