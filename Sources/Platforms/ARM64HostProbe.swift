import GuestImage
import Glibc
import KVM

/// `kvm-arm.mode` as the running kernel was booted with it.
public struct ARM64KVMMode: Equatable, Sendable, CustomStringConvertible {
    public enum Source: String, Sendable {
        case moduleParameter = "/sys/module/kvm/parameters/mode"
        case commandLine = "/proc/cmdline"
        /// Neither names a mode: the kernel's default (VHE or nVHE, not protected).
        case notSet = "not set"
    }

    /// "protected", "nvhe", "nested", "none"…; nil when not set.
    public var value: String?
    public var source: Source

    public init(value: String?, source: Source) {
        self.value = value
        self.source = source
    }

    public var isProtected: Bool { value == "protected" }

    public var description: String {
        guard let value else { return "not set (the default: VHE or nVHE, not protected)" }
        return "\(value) (from \(source.rawValue))"
    }

    /// The mode in the module parameter file's text, if any.
    public static func parse(parameter text: String) -> String? {
        let value = Substring(text).trimmed(of: " \t\n")
        return value.isEmpty ? nil : value
    }

    /// The value of the last `kvm-arm.mode=` on a kernel command line (the
    /// kernel applies them in order, so the last wins). As the kernel does,
    /// `-` and `_` in the name are the same, a quoted value is unquoted, and
    /// everything after a lone `--` belongs to init, not the kernel.
    public static func parse(commandLine text: String) -> String? {
        var found: String?
        for token in commandLine(tokens: text) {
            if token == "--" { break }
            guard let equals = token.firstIndex(of: "=") else { continue }
            let name = token[..<equals].replacingUnderscores()
            guard name == "kvm-arm.mode" else { continue }
            found = String(token[token.index(after: equals)...])
        }
        return found
    }

    /// Splits a command line at blanks outside double quotes, dropping the quotes.
    static func commandLine(tokens text: String) -> [String] {
        var tokens: [String] = []
        var current = ""
        var quoted = false
        var inToken = false
        for character in text {
            if character == "\"" {
                quoted.toggle()
                inToken = true
            } else if !quoted && (character == " " || character == "\t" || character == "\n") {
                if inToken { tokens.append(current) }
                current = ""
                inToken = false
            } else {
                current.append(character)
                inToken = true
            }
        }
        if inToken { tokens.append(current) }
        return tokens
    }

    /// The parameter file wins where it exists; otherwise the command line.
    public static func resolve(parameter: String?, commandLine: String?) -> ARM64KVMMode {
        if let value = parameter.flatMap(parse(parameter:)) { return ARM64KVMMode(value: value, source: .moduleParameter) }
        if let value = commandLine.flatMap(parse(commandLine:)), !value.isEmpty {
            return ARM64KVMMode(value: value, source: .commandLine)
        }
        return ARM64KVMMode(value: nil, source: .notSet)
    }

    /// This host's mode.
    public static func current() -> ARM64KVMMode {
        resolve(parameter: try? ProcFile.read(Source.moduleParameter.rawValue),
                commandLine: try? ProcFile.read(Source.commandLine.rawValue))
    }
}

extension Substring {
    func replacingUnderscores() -> String {
        String(map { $0 == "_" ? "-" : $0 })
    }
}

/// Whether an operation the probe tried was accepted.
public enum ProbeOutcome: Equatable, Sendable, CustomStringConvertible {
    case accepted
    case refused(operation: String, errno: Int32)
    case notTried(String)

    public var isAccepted: Bool { self == .accepted }

    public var description: String {
        switch self {
        case .accepted: "accepted"
        case .refused(let operation, let errno): "\(operation) failed with \(Errno.name(errno)) (\(Errno.message(errno)))"
        case .notTried(let why): "not tried: \(why)"
        }
    }
}

/// What an arm64 host offers the two arm64 platforms, found by asking the
/// kernel: creating (and closing) a protected VM is the only test for
/// protected-VM support, and setting an SMCCC filter on a throwaway VM the
/// only test for the filter.
public struct ARM64HostFacts: Equatable, Sendable {
    public var mode: ARM64KVMMode
    /// `KVM_CREATE_VM(KVM_VM_TYPE_ARM_PROTECTED)`. Creating one taints the kernel.
    public var protectedVM: ProbeOutcome
    /// `KVM_SET_DEVICE_ATTR(KVM_ARM_VM_SMCCC_FILTER)` on a fresh default VM.
    public var smcccFilter: ProbeOutcome
    /// `KVM_CAP_GUEST_MEMFD_FLAGS` asked on a default VM (nil: not asked).
    public var guestMemfdFlags: GuestMemfdFlags?
    public var memlock: MemlockBudget
    /// What the protected VM the probe created said of Android's
    /// `KVM_CAP_ARM_PROTECTED_VM` (nil: no protected VM).
    public var pkvm: PKVMFacts?

    public init(mode: ARM64KVMMode, protectedVM: ProbeOutcome, smcccFilter: ProbeOutcome,
                guestMemfdFlags: GuestMemfdFlags?, memlock: MemlockBudget, pkvm: PKVMFacts? = nil) {
        self.mode = mode
        self.pkvm = pkvm
        self.protectedVM = protectedVM
        self.smcccFilter = smcccFilter
        self.guestMemfdFlags = guestMemfdFlags
        self.memlock = memlock
    }

    /// Whether the kernel takes an SMCCC filter on a fresh default VM (the
    /// only test for it: Linux 6.4+ on arm64; elsewhere refused).
    public static func smcccFilterAccepted(_ system: KVMSystem) -> Bool {
        guard let vm = try? system.createVM(type: .default) else { return false }
        defer { try? vm.fd.close() }
        return (try? vm.setSMCCCFilter(ARM64SMCCCFilter.pKVMVendorCalls[0])) != nil
    }

    /// The default guest RAM of `pvmh run`, for the memlock note.
    public static let defaultGuestRAM: UInt64 = 4 << 20

    /// Asks the kernel behind `system`. Runs on any host (elsewhere than
    /// arm64 both VM probes are simply refused).
    public static func gather(system: KVMSystem, mode: ARM64KVMMode = .current(),
                              memlock: MemlockBudget = .current()) -> ARM64HostFacts {
        let protectedVM: ProbeOutcome
        var pkvm: PKVMFacts?
        do {
            let vm = try system.createVM(type: .armProtected)
            pkvm = PKVMFacts.ask(vm)
            try? vm.fd.close()
            protectedVM = .accepted
        } catch {
            protectedVM = .refused(operation: "KVM_CREATE_VM(KVM_VM_TYPE_ARM_PROTECTED)", errno: error.errno)
        }
        var flags: GuestMemfdFlags?
        let smccc: ProbeOutcome
        do {
            let vm = try system.createVM(type: .default)
            defer { try? vm.fd.close() }
            flags = (try? vm.check(.guestMemfdFlags)).map { GuestMemfdFlags(rawValue: UInt64($0)) }
            do {
                try vm.setSMCCCFilter(ARM64SMCCCFilter.pKVMVendorCalls[0])
                smccc = .accepted
            } catch {
                smccc = .refused(operation: "KVM_SET_DEVICE_ATTR(KVM_ARM_VM_SMCCC_FILTER)", errno: error.errno)
            }
        } catch {
            smccc = .notTried("a default VM could not be created (\(error))")
        }
        return ARM64HostFacts(mode: mode, protectedVM: protectedVM, smcccFilter: smccc, guestMemfdFlags: flags, memlock: memlock, pkvm: pkvm)
    }

    /// The limit against the default guest: a protected guest's RAM is
    /// pinned and charged to RLIMIT_MEMLOCK, byte for byte.
    var memlockSentence: String {
        if let refusal = memlock.refusal(forGuestRAM: Self.defaultGuestRAM) { return "\(memlock.description): \(refusal)" }
        guard memlock.limit != nil, !memlock.hasIPCLock else { return memlock.description }
        return "\(memlock.description): enough for the default \(MemlockBudget.format(Self.defaultGuestRAM)) protected guest (its RAM is pinned and charged to this limit)"
    }

    /// The facts as labelled lines, for `pvmh probe`.
    public var lines: [(name: String, value: String)] {
        var protectedText = protectedVM.description
        if protectedVM.isAccepted {
            protectedText += " (the probe created and closed one; creating a protected VM taints the kernel: TAINT_USER, \"protected VMs are experimental\")"
        }
        return [
            ("kvm-arm.mode", mode.description),
            ("protected VMs", protectedText),
            ("SMCCC filter", smcccFilter.description),
            ("guest_memfd flags (VM)", guestMemfdFlags.map(\.description) ?? "not asked"),
            ("memlock limit", memlockSentence),
        ] + (pkvm?.lines ?? [])
    }
}

/// Which pKVM a protected VM runs on, and its firmware, as
/// `KVM_CAP_ARM_PROTECTED_VM` answers on the VM fd (Docs/kvm-abi.md,
/// "Android's protected-VM ABI").
public struct PKVMFacts: Equatable, Sendable {
    public var flavour: PKVMFlavour
    /// INFO's firmware size (Android only).
    public var deviceFirmwareBytes: UInt64?
    /// Why INFO failed, if it did.
    public var infoError: String?

    public init(flavour: PKVMFlavour, deviceFirmwareBytes: UInt64? = nil, infoError: String? = nil) {
        self.flavour = flavour
        self.deviceFirmwareBytes = deviceFirmwareBytes
        self.infoError = infoError
    }

    /// Asks a fresh protected VM (before it has run).
    public static func ask(_ vm: any AndroidProtectedVMControl) -> PKVMFacts {
        do {
            let firmware = try AndroidFirmware.begin(.none, vm: vm)
            return PKVMFacts(flavour: firmware.flavour, deviceFirmwareBytes: firmware.info?.firmwareSize, infoError: firmware.infoError)
        } catch {
            return PKVMFacts(flavour: .android, infoError: error.description)
        }
    }

    /// `pvmh probe`'s lines: the flavour, the device firmware, what a run does.
    public var lines: [(name: String, value: String)] {
        switch flavour {
        case .upstream:
            return [("pKVM", "upstream's (KVM_CAP_ARM_PROTECTED_VM is unknown: no Android ABI, no firmware); a run boots the guest directly")]
        case .android:
            let firmware: String
            if let infoError {
                firmware = "INFO failed: \(infoError)"
            } else if let bytes = deviceFirmwareBytes, bytes > 0 {
                firmware = "the device's pvmfw is \(bytes) bytes; `--firmware device` would start it (it boots only a payload it can verify, and pvmh's guests are not signed)"
            } else {
                firmware = "the device has no pvmfw (INFO: firmware_size 0)"
            }
            return [("pKVM", "Android's (KVM_CAP_ARM_PROTECTED_VM answers on a protected VM): guests may also use MEM_RELINQUISH and the MMIO guard"),
                    ("pVM firmware", "\(firmware); a run boots the guest directly (--firmware none) unless --firmware says otherwise")]
        }
    }
}

/// The arm64 rows of the platform table, in `--platform auto` order: the
/// pKVM protected VM, then arm64 KVM + guest_memfd, then arm64 KVM + memfd.
/// Pure over the probe.
public enum ARM64PlatformCatalogue {
    /// The arm64 platforms, strongest isolation first.
    static var entries: [PlatformEntry] {
        let transport: @Sendable (HostProbe) -> ARM64CallTransport? = { probe in
            probe.arm64.map { $0.smcccFilter.isAccepted ? .smcccFilter : .mmioDoorbell }
        }
        return [
            PlatformEntry(id: ARM64ProtectedPlatform.platformID, availability: { availability(probe: $0)[0] }) { system, _, options in
                ARM64ProtectedPlatform(system: system, firmware: options.firmware)
            },
            PlatformEntry(id: "arm64-gmem", availability: { availability(probe: $0)[1] }) { system, probe, _ in
                ARM64KVMPlatform(system: system, backend: .guestMemfd, transport: transport(probe))
            },
            PlatformEntry(id: "arm64-memfd", availability: { availability(probe: $0)[2] }) { system, probe, _ in
                ARM64KVMPlatform(system: system, backend: .memfd, transport: transport(probe))
            },
        ]
    }

    public static func availability(probe: HostProbe) -> [HostProbe.PlatformAvailability] {
        let noKVM = probe.kvmError.map { "/dev/kvm is not usable: \($0)" }
        guard let facts = probe.arm64 else {
            let reason = noKVM ?? "the arm64 facts were not gathered"
            return [.init(id: ARM64ProtectedPlatform.platformID, name: "arm64 pKVM protected VM", available: false, reason: reason, backend: .memfd),
                    .init(id: "arm64-gmem", name: "arm64 KVM + guest_memfd", available: false, reason: reason, backend: .guestMemfd),
                    .init(id: "arm64-memfd", name: "arm64 KVM + memfd", available: false, reason: reason, backend: .memfd)]
        }
        return [protectedRow(facts, noKVM: noKVM), guestMemfdRow(probe, facts, noKVM: noKVM), memfdRow(probe, facts, noKVM: noKVM)]
    }

    static func protectedRow(_ facts: ARM64HostFacts, noKVM: String?) -> HostProbe.PlatformAvailability {
        let name = "arm64 pKVM protected VM"
        if let noKVM { return .init(id: ARM64ProtectedPlatform.platformID, name: name, available: false, reason: noKVM, backend: .memfd) }
        switch facts.protectedVM {
        case .accepted:
            var reason = "KVM_CREATE_VM(KVM_VM_TYPE_ARM_PROTECTED) works with kvm-arm.mode \(facts.mode); guest RAM is a MAP_SHARED memfd pKVM donates on first fault, and each share/unshare the guest reports is verified by probing host access"
            if let refusal = facts.memlock.refusal(forGuestRAM: ARM64HostFacts.defaultGuestRAM) {
                reason += "; note: \(refusal)"
            }
            return .init(id: ARM64ProtectedPlatform.platformID, name: name, available: true, reason: reason, backend: .memfd)
        case .refused(_, let errno) where errno == EINVAL:
            return .init(id: ARM64ProtectedPlatform.platformID, name: name, available: false,
                         reason: "KVM_CREATE_VM(KVM_VM_TYPE_ARM_PROTECTED) fails with EINVAL: protected VMs need Linux 7.1+ booted with kvm-arm.mode=protected; kvm-arm.mode here is \(facts.mode)", backend: .memfd)
        case .refused, .notTried:
            return .init(id: ARM64ProtectedPlatform.platformID, name: name, available: false, reason: "\(facts.protectedVM)", backend: .memfd)
        }
    }

    static func guestMemfdRow(_ probe: HostProbe, _ facts: ARM64HostFacts, noKVM: String?) -> HostProbe.PlatformAvailability {
        let name = "arm64 KVM + guest_memfd"
        func row(_ available: Bool, _ reason: String) -> HostProbe.PlatformAvailability {
            .init(id: "arm64-gmem", name: name, available: available, reason: reason, backend: .guestMemfd)
        }
        if let noKVM { return row(false, noKVM) }
        let flags = facts.guestMemfdFlags ?? probe.guestMemfdFlags ?? []
        if (probe.capability(.guestMemfd) ?? 0) == 0 { return row(false, "needs KVM_CAP_GUEST_MEMFD (Linux 6.18+ on arm64)") }
        if !flags.contains(.mmap) { return row(false, "needs guest_memfd flag MMAP (Linux 6.18+); this kernel accepts \(flags)") }
        if (probe.capability(.userMemory2) ?? 0) == 0 { return row(false, "needs KVM_CAP_USER_MEMORY2") }
        return row(true, "guest_memfd \(ARM64KVMPlatform.flags(offered: flags)) and memslots v2 work; \(transportSentence(facts)), and the VMM enforces privacy with a PROT_NONE host view (a non-protected VM: the kernel does not isolate it)")
    }

    static func memfdRow(_ probe: HostProbe, _ facts: ARM64HostFacts, noKVM: String?) -> HostProbe.PlatformAvailability {
        let name = "arm64 KVM + memfd"
        if let noKVM { return .init(id: "arm64-memfd", name: name, available: false, reason: noKVM, backend: .memfd) }
        let memslots = (probe.capability(.userMemory2) ?? 0) > 0 ? "memslots v2" : "memslots v1"
        return .init(id: "arm64-memfd", name: name, available: true,
                     reason: "every arm64 KVM takes memfd (shmem) memory in a plain memslot (\(memslots) here); \(transportSentence(facts)), and the VMM enforces privacy with a PROT_NONE host view (a non-protected VM: the kernel does not isolate it)",
                     backend: .memfd)
    }

    /// How pKVM's share/unshare calls will reach the VMM on a non-protected VM.
    static func transportSentence(_ facts: ARM64HostFacts) -> String {
        facts.smcccFilter.isAccepted
            ? "the SMCCC filter (Linux 6.4+) forwards pKVM's share/unshare calls to the VMM"
            : "without the SMCCC filter (\(facts.smcccFilter)) pKVM's share/unshare calls reach the VMM through the MMIO doorbell"
    }
}
