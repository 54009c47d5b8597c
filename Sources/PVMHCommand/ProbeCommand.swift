import KVM
import Lifecycle
import Platforms

/// `pvmh probe [--json]`: what this host supports and which platform `run` would use.
enum ProbeCommand {
    static let help = """
    usage: pvmh probe [--json] [--refresh] [--kvm PATH]

    Asks the running kernel what it supports for protected VMs: KVM API
    version, capabilities, VM types, guest_memfd flags, memory attributes and
    whether a guest vmcall reaches the VMM (probed with a tiny guest under a
    watchdog). Then lists every platform pvmh knows, whether it is usable here
    and why, and which one `pvmh run` picks.

      --json        one JSON object instead of text
      --refresh     probe the hypercall transport again instead of using this
                    boot's cached answer (x86_64; see Docs/performance.md)
      --kvm PATH    the KVM device (default /dev/kvm)
    """

    static func main(_ args: [String], output: Output) throws(UsageError) -> Int32 {
        var arguments = Arguments(args, command: "probe")
        let json = arguments.flag("--json")
        let refresh = arguments.flag("--refresh")
        let path = try arguments.option("--kvm") ?? "/dev/kvm"
        _ = try arguments.positionals(max: 0)
        let probe = HostProbe.gather(kvmPath: path, refreshTransport: refresh)
        if json {
            output.line(jsonObject(probe).serialized)
        } else {
            printText(probe, output: output)
        }
        return 0
    }

    static func printText(_ probe: HostProbe, output: Output) {
        output.line("host: \(probe.architecture), Linux \(probe.kernelRelease)")
        if let error = probe.kvmError {
            output.line("kvm: \(probe.kvmPath) unusable: \(error)")
        } else {
            output.line("kvm: \(probe.kvmPath), API version \(probe.apiVersion.map(String.init) ?? "?")")
            output.line("capabilities:")
            for entry in probe.capabilities {
                let value = entry.value.map { $0 == 0 ? "no" : "yes (\($0 > 1 ? Format.hex(UInt64($0)) : "1"))" } ?? "error"
                output.line("  \(Format.padded(entry.capability.name, 28)) \(value)")
            }
            output.line("vm types: \(probe.vmTypes.map(\.description).joined(separator: ", "))")
            output.line("guest_memfd flags: \(probe.guestMemfdFlags.map(\.description) ?? "none (no guest_memfd)")")
            let attributes = probe.memoryAttributes ?? 0
            output.line("memory attributes: \(attributes & MemoryAttributes.private.rawValue != 0 ? "PRIVATE supported" : "not supported (mask \(Format.hex(attributes)))")")
            if let transport = probe.transport {
                output.line("hypercall transport: \(transport.rawValue) — \(probe.transportReason ?? "")")
                output.line("  \(probe.transportCachePath.map { "(cached this boot in \($0); --refresh probes again)" } ?? "(probed now)")")
            }
            if let arm64 = probe.arm64 {
                output.line("arm64:")
                for line in arm64.lines { output.line("  \(Format.padded(line.name, 28)) \(line.value)") }
            }
        }
        output.line("platforms:")
        for platform in probe.platforms {
            output.line("  \(platform.available ? "yes" : "no ") \(Format.padded(platform.id, 20)) \(platform.name): \(platform.reason)")
        }
        output.line("  yes \(Format.padded("model", 20)) pKVM model (software EL2 + A64 interpreter): runs the arm64 guests on any host (--platform model)")
        output.line("run would use: \(probe.selected ?? "model") — \(probe.selected == nil ? "no KVM platform is usable, so the pKVM model; " : "")\(probe.selectionReason)")
    }

    static func jsonObject(_ probe: HostProbe) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("architecture", .string(probe.architecture)), ("kernel", .string(probe.kernelRelease)),
            ("kvm_path", .string(probe.kvmPath)),
        ]
        if let error = probe.kvmError {
            fields.append(("kvm_error", .string(error)))
        } else {
            fields.append(("api_version", probe.apiVersion.map { .int(Int64($0)) } ?? .null))
            fields.append(("capabilities", .object(probe.capabilities.map { ($0.capability.name, $0.value.map { .int(Int64($0)) } ?? .null) })))
            fields.append(("vm_types", .array(probe.vmTypes.map { .string($0.description) })))
            fields.append(("guest_memfd_flags", probe.guestMemfdFlags.map { .uint($0.rawValue) } ?? .null))
            fields.append(("memory_attributes", .uint(probe.memoryAttributes ?? 0)))
            fields.append(("hypercall_transport", probe.transport.map { .string($0.rawValue) } ?? .null))
            fields.append(("hypercall_transport_reason", probe.transportReason.map { .string($0) } ?? .null))
            fields.append(("hypercall_transport_cache", probe.transportCachePath.map { .string($0) } ?? .null))
            if let arm64 = probe.arm64 {
                fields.append(("arm64", .object(arm64.lines.map { ($0.name, .string($0.value)) })))
            }
        }
        fields.append(("platforms", .array(probe.platforms.map {
            .object([("id", .string($0.id)), ("name", .string($0.name)), ("available", .bool($0.available)), ("reason", .string($0.reason)),
                     ("memory_backend", $0.backend.map { .string($0.rawValue) } ?? .null)])
        })))
        fields.append(("selected", probe.selected.map { .string($0) } ?? .null))
        fields.append(("run_would_use", .string(probe.selected ?? "model")))
        fields.append(("selection_reason", .string(probe.selectionReason)))
        return .object(fields)
    }
}
