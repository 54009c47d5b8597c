import Glibc
import GuestImage
import Lifecycle
import PKVMModel
import Platforms

/// `pvmh run [GUEST]`: boot a guest with all memory private, answer its
/// share/unshare requests, tear down in the safe order, print the verdict.
enum RunCommand {
    static let help = """
    usage: pvmh run [GUEST] [--platform auto|kvm|model] [--memory SIZE] [--journal FILE]
                    [--timeout SECONDS] [--transport auto|vmcall|doorbell] [--kvm PATH]
                    [--kernel-order correct|unbind-before-reclaim]

    Boots GUEST — a built-in guest name (see `pvmh guest list`; default: the
    demo guest for this architecture) or an ELF64 file — on the chosen
    platform. All guest memory is private from creation; the guest's
    share/unshare requests are checked against the ownership ledger; the VM
    is torn down in the safe order (stop vCPUs → reclaim → unbind → release →
    destroy), also on errors, timeouts and Ctrl-C.

      --platform P     auto (default: the KVM platform `pvmh probe` selects, else the
                       model), kvm, or model (the pKVM model: a software EL2 with an
                       A64 interpreter; runs the arm64 guests on any host)
      --memory SIZE    guest RAM, e.g. 4M, 64MiB, 1G (default 4M; page aligned)
      --journal FILE   write every event as JSON Lines to FILE
      --timeout S      stop a guest that runs longer than S seconds (default 30)
      --transport T    x86 share/unshare transport: auto (probe, default), vmcall, doorbell
      --kvm PATH       the KVM device (default /dev/kvm)
      --kernel-order O the model's host-kernel teardown order: correct (default) or
                       unbind-before-reclaim (the guest_memfd v13 bug: the model must
                       report the host fault it causes)

    Output: the guest console (guest|), each share/unshare and its answer,
    the message the guest left in shared memory, page ownership per phase,
    the teardown steps with timings, and a verdict. Exit 0 when the guest
    finished cleanly, every check passed and nothing leaked; 1 otherwise;
    2 for bad usage or a bad guest image.
    """

    struct Options {
        var guestName = "default"
        var image: ELFImage
        var platform: PlatformRequest = .auto
        var autoNote: String?
        var memory: UInt64 = 4 << 20
        var journalPath: String?
        var timeout: Double = 30
        var transport: HypercallTransport?
        var kvmPath = "/dev/kvm"
        var kernelOrder: KernelTeardownOrder = .correct
        var architecture: GuestArchitecture = .host
    }

    static let minimumMemory: UInt64 = 2 << 20

    static func maximumMemory() -> UInt64 {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return 1 << 40 }
        // Whole MiB, so the limit prints as a size a person would type.
        return (UInt64(pages) * UInt64(size)) & ~UInt64((1 << 20) - 1)
    }

    /// Everything the user typed, validated before any VM exists.
    static func parse(_ args: [String]) throws(UsageError) -> Options {
        var arguments = Arguments(args, command: "run")
        let platformText = try arguments.option("--platform") ?? "auto"
        guard let platform = PlatformRequest(rawValue: platformText) else {
            throw UsageError("--platform \(platformText) is not a platform; use auto, kvm or model (`pvmh probe` lists what this host supports)")
        }
        let orderText = try arguments.option("--kernel-order")
        var kernelOrder = KernelTeardownOrder.correct
        if let orderText {
            guard let order = KernelTeardownOrder(rawValue: orderText) else {
                throw UsageError("--kernel-order \(orderText) is not an order; use correct or unbind-before-reclaim")
            }
            guard platform == .model else {
                throw UsageError("--kernel-order applies to the model only; add --platform model")
            }
            kernelOrder = order
        }
        let memoryText = try arguments.option("--memory")
        let journal = try arguments.option("--journal")
        let timeoutText = try arguments.option("--timeout")
        let transportText = try arguments.option("--transport") ?? "auto"
        let kvmPath = try arguments.option("--kvm") ?? "/dev/kvm"
        let transport: HypercallTransport?
        if transportText == "auto" {
            transport = nil
        } else if let value = HypercallTransport(rawValue: transportText) {
            transport = value
        } else {
            throw UsageError("--transport \(transportText) is not a transport; use auto, vmcall or doorbell")
        }
        let positionals = try arguments.positionals(max: 1)
        let memory = try memoryText.map { text throws(UsageError) in
            try ValueParser.memorySize(text, minimum: minimumMemory, maximum: maximumMemory())
        } ?? (4 << 20)
        let timeout = try timeoutText.map { text throws(UsageError) in try ValueParser.seconds(text) } ?? 30

        // The guest decides the architecture when it names one; auto then
        // picks the platform that runs it (KVM for this host's architecture,
        // the model for arm64 on other hosts). With no guest, auto takes the
        // KVM platform the probe selects, else the model.
        let explicitGuest = try positionals.first.map { text throws(UsageError) in try loadGuest(text) }
        var resolved = platform
        var autoNote: String?
        if platform == .auto {
            if let guest = explicitGuest {
                resolved = guest.1.machine == .host ? .kvm : .model
                if resolved == .model { autoNote = "guest \(guest.0) is \(guest.1.machine): running it on the pKVM model" }
            } else {
                let probe = HostProbe.gather(kvmPath: kvmPath, probeTransport: false)
                if probe.selected == nil {
                    resolved = .model
                    autoNote = "no KVM platform is usable here (\(probe.selectionReason)); using the pKVM model"
                } else {
                    resolved = .kvm
                }
            }
        }
        let architecture: GuestArchitecture = resolved == .model ? .aarch64 : .host
        let (name, image): (String, ELFImage)
        if let guest = explicitGuest {
            guard guest.1.machine == architecture else {
                let hint = guest.1.machine == .aarch64 ? "; run it with --platform model" : ""
                throw UsageError("guest \(guest.0) is for \(guest.1.machine), but \(resolved == .model ? "the pKVM model" : "KVM on this host") runs \(architecture) guests\(hint)")
            }
            (name, image) = guest
        } else {
            guard let guest = BuiltinGuest.defaultGuest(for: architecture) else {
                throw UsageError("there is no built-in guest for \(architecture); give an ELF file")
            }
            (name, image) = (guest.name, try builtinImage(guest))
        }
        do {
            try image.validate(placement: ramBase(architecture), ramSize: memory, mmio: mmio(architecture))
        } catch {
            throw UsageError("guest \(name) does not fit this VM: \(error)")
        }
        return Options(guestName: name, image: image, platform: resolved, autoNote: autoNote, memory: memory, journalPath: journal,
                       timeout: timeout, transport: transport, kvmPath: kvmPath, kernelOrder: kernelOrder,
                       architecture: architecture)
    }

    /// Where guest RAM starts: 0 on x86, QEMU virt's 0x4000_0000 on arm64.
    static func ramBase(_ architecture: GuestArchitecture) -> UInt64 {
        architecture == .aarch64 ? ARM64GuestProtocol.ramBase : 0
    }

    static func mmio(_ architecture: GuestArchitecture) -> [Range<UInt64>] {
        guard architecture == .aarch64 else { return [] }
        return [ARM64GuestProtocol.uartBase..<ARM64GuestProtocol.uartBase + 0x1000,
                ARM64GuestProtocol.harnessBase..<ARM64GuestProtocol.harnessBase + ARM64GuestProtocol.harnessSize]
    }

    /// A built-in guest by name, or an ELF64 file (any supported machine).
    static func loadGuest(_ argument: String) throws(UsageError) -> (String, ELFImage) {
        if let guest = BuiltinGuest.named(argument) {
            return (guest.name, try builtinImage(guest))
        }
        let bytes = try GuestFile.read(argument)
        do {
            return (argument, try ELFImage(bytes: bytes, expecting: nil))
        } catch {
            throw UsageError("\(argument): \(error)")
        }
    }

    static func builtinImage(_ guest: BuiltinGuest) throws(UsageError) -> ELFImage {
        do {
            return try guest.image()
        } catch {
            throw UsageError("built-in guest \(guest.name) is corrupt: \(error); rebuild with Guests/build --generate")
        }
    }

    static func main(_ args: [String], output: Output) throws(UsageError) -> Int32 {
        let options = try parse(args)
        let journal: Journal
        do {
            journal = try Journal(path: options.journalPath)
        } catch {
            throw UsageError(error.description)
        }
        let platform: Platform
        if let note = options.autoNote { output.line("pvmh: \(note)") }
        if options.platform == .model {
            platform = PKVMModelPlatform(configuration: ModelConfiguration(kernelOrder: options.kernelOrder))
        } else {
            let probe = HostProbe.gather(kvmPath: options.kvmPath, probeTransport: false)
            do {
                platform = try PlatformSelection.make(options.platform, probe: probe, kvmPath: options.kvmPath, transport: options.transport)
            } catch {
                output.error("pvmh: \(error.description)")
                journal.record("error", [("message", .string(error.description))])
                journal.close()
                return 1
            }
        }
        output.line("pvmh: platform \(platform.description.id) (\(platform.description.name))")
        #if arch(x86_64)
        if let x86 = platform as? X86GuestMemfdPlatform {
            output.line("pvmh: share/unshare transport \(x86.transport.rawValue): \(x86.transportReason)")
        }
        #endif
        output.line("pvmh: guest \(options.guestName), \(Format.bytes(options.memory)) RAM, 1 vCPU, entry \(Format.hex(options.image.entry))")

        let ram = GuestRAM(base: ramBase(options.architecture), size: options.memory)
        let runOptions = RunOptions(ram: ram, vcpus: 1, timeoutSeconds: options.timeout,
                                    plan: .safe, handleSignals: true)
        let lifecycle = ProtectedVMLifecycle(platform: platform, journal: journal, options: runOptions,
                                             guestName: options.guestName) { notice in
            RunPresenter.show(notice, output: output)
        }
        let report = lifecycle.run(image: options.image)
        RunPresenter.summary(report, output: output)
        return report.exitCode
    }
}

extension GuestArchitecture {
    /// The architecture pvmh was built for (the one KVM platforms run).
    static var host: GuestArchitecture {
        #if arch(x86_64)
        .x86_64
        #else
        .aarch64
        #endif
    }
}

/// Reads a guest image file with one clear sentence per failure.
enum GuestFile {
    static let maximumSize = 64 << 20

    static func read(_ path: String) throws(UsageError) -> [UInt8] {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let error = errno
            let hint = error == ENOENT ? "no such file and no built-in guest of that name (`pvmh guest list`)" : String(cString: strerror(error))
            throw UsageError("cannot read guest \(path): \(hint)")
        }
        if info.st_mode & S_IFMT == S_IFDIR { throw UsageError("guest \(path) is a directory; give an ELF file") }
        guard info.st_size > 0 else { throw UsageError("guest \(path) is empty; give an ELF64 executable") }
        guard info.st_size <= maximumSize else {
            throw UsageError("guest \(path) is \(info.st_size) bytes, more than the \(maximumSize >> 20) MiB pvmh accepts for an image")
        }
        guard let file = fopen(path, "re") else {
            throw UsageError("cannot open guest \(path): \(String(cString: strerror(errno))); check its permissions")
        }
        defer { fclose(file) }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        let count = bytes.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        guard count == bytes.count else { throw UsageError("reading guest \(path) stopped after \(count) of \(bytes.count) bytes") }
        return bytes
    }
}
