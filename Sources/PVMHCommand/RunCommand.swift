import Glibc
import GuestImage
import Lifecycle
import PKVMModel
import Platforms

/// `pvmh run [GUEST]`: boot a guest with all memory private, answer its
/// share/unshare requests, tear down in the safe order, print the verdict.
enum RunCommand {
    static let help = """
    usage: pvmh run [GUEST] [--platform auto|kvm|model] [--memory-backend gmem|memfd] [--memory SIZE]
                    [--vcpus N] [--journal FILE] [--trace FILE] [--map FILE.svg] [--timeout SECONDS]
                    [--transport auto|vmcall|doorbell] [--kvm PATH] [--kernel-order correct|unbind-before-reclaim]
                    [--model-pkvm upstream|android] [--firmware none|device|FILE] [--flat ADDRESS]
                    [--seed S] [--rounds N]

    Boots GUEST — a built-in guest name (see `pvmh guest list`; default: the
    demo guest for this architecture) or an ELF64 file — on the chosen
    platform. All guest memory is private from creation; the guest's
    share/unshare requests are checked against the ownership ledger; the VM
    is torn down in the safe order (stop vCPUs → reclaim → unbind → release →
    destroy), also on errors, timeouts and Ctrl-C.

      --platform P     auto (default: the KVM platform `pvmh probe` selects, else the
                       model), kvm, or model (the pKVM model: a software EL2 with an
                       A64 interpreter; runs the arm64 guests on any host)
      --memory-backend B  the file behind guest RAM on KVM: gmem (guest_memfd) or
                       memfd (default: the strongest platform this host has;
                       `pvmh probe` lists which backends each platform uses)
      --memory SIZE    guest RAM, e.g. 4M, 64MiB, 1G (default 4M; page aligned; at most
                       the host's RAM, and 4095 MiB on x86_64, whose guests get the size
                       in a 32-bit register)
      --vcpus N        vCPUs (default 1), 1 to 8: on arm64 secondaries start powered off
                       until the guest's PSCI CPU_ON; on x86_64 every vCPU starts at the
                       entry with its index in EDX, so the single-processor demo runs on 1
                       (the stress guests use them all)
      --journal FILE   write every event as JSON Lines to FILE
      --trace FILE     write a timeline of the run to FILE in the Chrome trace-event JSON
                       format (open it in ui.perfetto.dev or chrome://tracing): a track
                       per vCPU, the lifecycle, memory, and page counters (Docs/trace.md)
      --map FILE.svg   draw guest RAM ownership over the run as SVG: private, shared,
                       reclaimed and host ranges at each change and teardown step
      --timeout S      stop a guest that runs longer than S seconds (default 30; for a
                       stress guest, which writes every page twice, 30 plus 1 per 4 MiB)
      --transport T    x86 share/unshare transport: auto (probe, default), vmcall, doorbell
      --kvm PATH       the KVM device (default /dev/kvm)
      --kernel-order O the model's host-kernel teardown order: correct (default) or
                       unbind-before-reclaim (the guest_memfd v13 bug: the model must
                       report the host fault it causes)
      --model-pkvm F   whose pKVM the model's EL2 is: upstream (default: MEM_SHARE and
                       MEM_UNSHARE) or android (also MEM_RELINQUISH and the MMIO guard,
                       which the demo guest then exercises; Docs/kvm-abi.md)
      --firmware F     Android's pKVM only (arm64-pkvm on a device, or --model-pkvm android):
                       none (default: boot the guest directly), device (the device's pvmfw,
                       which boots only a payload it can verify: pvmh's guests are not
                       signed), or FILE, a pvmfw-style flat image of at most 4 MiB that pvmh
                       loads at the top 4 MiB of guest RAM and starts with X1 = the guest's
                       entry, X2 = its size; give the guest --memory 8M or more
                       (Docs/running-on-arm64.md)
      --seed S         picks the private pages sampled by the host-isolation probe
                       before reclaim (plain VMs) and, for a stress guest, its secrets and
                       the runs of pages it shares (default 1886809448, so runs compare)
      --rounds N       share/unshare rounds per vCPU of a stress guest (default 256; 0:
                       until stopped by Ctrl-C or --timeout)
      --flat ADDRESS   GUEST is a flat binary (raw code, no ELF headers): load it at
                       guest physical ADDRESS (e.g. 0x40080000) and start there; the
                       platform decides the architecture, as with no GUEST

    Output: the guest console (guest|), each share/unshare and its answer,
    the message the guest left in shared memory, page ownership per phase,
    the teardown steps with timings, and a verdict. Exit 0 when the guest
    finished cleanly, every check passed and nothing leaked; 1 otherwise;
    2 for bad usage or a bad guest image, always before any VM exists.
    """

    struct Options {
        var guestName = "default"
        var image: ELFImage
        var platform: PlatformRequest = .auto
        var autoNote: String?
        var memory: UInt64 = 4 << 20
        var vcpus = 1
        var journalPath: String?
        var tracePath: String?
        var mapPath: String?
        var timeout: Double = 30
        var transport: HypercallTransport?
        var backend: RAMBackend?
        var kvmPath = "/dev/kvm"
        var kernelOrder: KernelTeardownOrder = .correct
        var modelFlavour: PKVMFlavour = .upstream
        var firmware: FirmwareChoice = .none
        var architecture: GuestArchitecture = .host
        /// Where a `--flat` binary was loaded; nil for ELF images.
        var flatAddress: UInt64?
        var seed: UInt64 = RunOptions.defaultVerificationSeed
        /// What a stress guest was told (nil for other guests).
        var stress: StressParameters?
        /// The host probe parse already gathered, so run does not ask twice.
        var probe: HostProbe?
    }

    static let minimumMemory: UInt64 = 2 << 20

    /// The host's RAM, the most any platform can give a guest.
    static func maximumMemory() -> UInt64 {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), size = sysconf(Int32(_SC_PAGESIZE))
        guard pages > 0, size > 0 else { return 1 << 40 }
        // Whole MiB, so the limit prints as a size a person would type.
        return (UInt64(pages) * UInt64(size)) & ~UInt64((1 << 20) - 1)
    }

    /// What the chosen platform offers its guests (the platform's own facts).
    static func guestABI(_ platform: PlatformRequest) -> GuestABI {
        platform == .model ? .arm64Model : .hostKVM
    }

    /// An option only the model takes (`--kernel-order`, `--model-pkvm`):
    /// nil when absent; refused with `unknown(value)` for a value `T` does
    /// not name, and with `elsewhere` on any platform but the model.
    static func modelOption<T: RawRepresentable>(_ name: String, in arguments: inout Arguments, platform: PlatformRequest,
                                                  unknown: (String) -> String, elsewhere: String) throws(UsageError) -> T? where T.RawValue == String {
        guard let text = try arguments.option(name) else { return nil }
        guard let value = T(rawValue: text) else { throw UsageError(unknown(text)) }
        guard platform == .model else { throw UsageError(elsewhere) }
        return value
    }

    /// Everything the user typed, validated before any VM exists.
    static func parse(_ args: [String]) throws(UsageError) -> Options {
        var arguments = Arguments(args, command: "run")
        let platformText = try arguments.option("--platform") ?? "auto"
        guard let platform = PlatformRequest(rawValue: platformText) else {
            throw UsageError("--platform \(platformText) is not a platform; use auto, kvm or model (`pvmh probe` lists what this host supports)")
        }
        let kernelOrder: KernelTeardownOrder = try modelOption(
            "--kernel-order", in: &arguments, platform: platform,
            unknown: { "--kernel-order \($0) is not an order; use correct or unbind-before-reclaim" },
            elsewhere: "--kernel-order applies to the model only; add --platform model") ?? .correct
        let modelFlavour: PKVMFlavour = try modelOption(
            "--model-pkvm", in: &arguments, platform: platform,
            unknown: { "--model-pkvm \($0) is not a pKVM the model knows; use upstream or android" },
            elsewhere: "--model-pkvm applies to the model only (a real pKVM says which it is itself); add --platform model") ?? .upstream
        var firmware = FirmwareChoice.none
        if let firmwareText = try arguments.option("--firmware") {
            switch FirmwareChoice.parse(firmwareText) {
            case .success(let choice): firmware = choice
            case .failure(let refusal): throw UsageError(refusal.description)
            }
        }
        let memoryText = try arguments.option("--memory")
        let vcpusText = try arguments.option("--vcpus")
        let flatText = try arguments.option("--flat")
        let seedText = try arguments.option("--seed")
        let roundsText = try arguments.option("--rounds")
        let rounds = try roundsText.map { text throws(UsageError) -> UInt64 in
            guard let value = UInt64(text) else {
                throw UsageError("--rounds \(text) is not a round count; give a whole number from 0 (until stopped) to \(UInt64.max)")
            }
            return value
        }
        let seed = try seedText.map { text throws(UsageError) -> UInt64 in
            guard let value = UInt64(text) else { throw UsageError("--seed \(text) is not a seed; give a whole number from 0 to \(UInt64.max)") }
            return value
        } ?? RunOptions.defaultVerificationSeed
        let journal = try arguments.option("--journal")
        let trace = try arguments.option("--trace")
        let map = try arguments.option("--map")
        let timeoutText = try arguments.option("--timeout")
        let transportText = try arguments.option("--transport") ?? "auto"
        let kvmPath = try arguments.option("--kvm") ?? "/dev/kvm"
        let backendText = try arguments.option("--memory-backend")
        let backend = try backendText.map { text throws(UsageError) -> RAMBackend in
            guard let value = RAMBackend(rawValue: text) else {
                throw UsageError("--memory-backend \(text) is not a backend; use gmem (guest_memfd) or memfd")
            }
            guard platform != .model else {
                throw UsageError("--memory-backend applies to the KVM platforms; the pKVM model has memory of its own, so drop one of the two options")
            }
            return value
        }
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
        let timeout = try timeoutText.map { text throws(UsageError) in try ValueParser.seconds(text) }
        let vcpus = try vcpusText.map { text throws(UsageError) in
            try ValueParser.vcpuCount(text, maximum: max(GuestABI.arm64Model.maximumVCPUs, GuestABI.hostKVM.maximumVCPUs))
        } ?? 1
        let flatAddress = try flatText.map { text throws(UsageError) in try ValueParser.address(text, option: "--flat") }
        if flatAddress != nil, positionals.isEmpty {
            throw UsageError("--flat needs the FILE to load; use `pvmh run --flat ADDRESS FILE`")
        }

        // The guest decides the architecture when it names one; auto then
        // picks the platform that runs it (KVM for this host's architecture,
        // the model for arm64 on other hosts). With no guest, or a flat
        // binary (which names none), auto takes the KVM platform the probe
        // selects, else the model.
        let explicitGuest = try flatAddress == nil ? positionals.first.map { text throws(UsageError) in try loadGuest(text) } : nil
        let flatBytes = try flatAddress == nil ? nil : positionals.first.map { path throws(UsageError) in try GuestFile.readFlat(path) }
        var resolved = platform
        var autoNote: String?
        var gathered: HostProbe?
        func hostProbe() -> HostProbe {
            if let gathered { return gathered }
            let probe = HostProbe.gather(kvmPath: kvmPath, probeTransport: false)
            gathered = probe
            return probe
        }
        if platform == .auto {
            if let guest = explicitGuest {
                resolved = guest.1.machine == .host ? .kvm : .model
                if resolved == .model { autoNote = "guest \(guest.0) is \(guest.1.machine): running it on the pKVM model" }
            } else if backend != nil {
                resolved = .kvm
            } else {
                let probe = hostProbe()
                if probe.selected == nil {
                    resolved = .model
                    autoNote = "no KVM platform is usable here, so the guest runs on the pKVM model (\(probe.selectionReason))"
                } else {
                    resolved = .kvm
                }
            }
        }
        if firmware != .none {
            if resolved == .model {
                guard modelFlavour == .android else {
                    throw UsageError("--firmware needs Android's pKVM; on the model add --platform model --model-pkvm android")
                }
            } else {
                #if !arch(arm64)
                throw UsageError("--firmware applies to arm64 pKVM protected VMs on Android; this host is not arm64 (the model runs it as Android's pKVM: --platform model --model-pkvm android)")
                #endif
            }
        }
        if let backend, resolved == .kvm {
            // Refused here, before any VM exists, as bad usage for this host.
            do {
                _ = try PlatformSelection.resolve(probe: hostProbe(), backend: backend)
            } catch {
                throw UsageError("--memory-backend \(backend.rawValue): \(error.description)")
            }
        }
        let abi = guestABI(resolved)
        let architecture = abi.architecture
        let (name, image): (String, ELFImage)
        if let guest = explicitGuest {
            guard guest.1.machine == architecture else {
                let hint = guest.1.machine == .aarch64 ? "; run it with --platform model" : ""
                throw UsageError("guest \(guest.0) is for \(guest.1.machine), but \(resolved == .model ? "the pKVM model" : "KVM on this host") runs \(architecture) guests\(hint)")
            }
            (name, image) = guest
        } else if let flatAddress, let flatBytes, let path = positionals.first {
            do {
                image = try ELFImage(flat: flatBytes, loadAddress: flatAddress, machine: architecture)
            } catch {
                throw UsageError("\(path): \(error)")
            }
            name = path
        } else {
            guard let guest = BuiltinGuest.defaultGuest(for: architecture) else {
                throw UsageError("there is no built-in guest for \(architecture); give an ELF file")
            }
            (name, image) = (guest.name, try builtinImage(guest))
        }
        if let limit = abi.maximumMemory, memory > limit {
            throw UsageError("--memory \(memoryText ?? "") is more than this platform can give its guests (\(abi.memoryLimitReason ?? "")); use a size between \(Format.bytes(minimumMemory)) and \(Format.bytes(limit))")
        }
        let (vcpuMaximum, vcpuWhy) = (abi.maximumVCPUs, abi.vcpuLimitReason)
        guard vcpus <= vcpuMaximum else {
            let hint = resolved == .model ? "" : ", or --platform model for up to \(GuestABI.arm64Model.maximumVCPUs) arm64 vCPUs"
            throw UsageError("--vcpus \(vcpus) is more than this platform runs (\(vcpuWhy)); use --vcpus 1\(vcpuMaximum > 1 ? " to \(vcpuMaximum)" : "")\(hint)")
        }
        do {
            try image.validate(placement: abi.ramBase, ramSize: memory, mmio: abi.mmioWindows)
        } catch {
            throw UsageError("guest \(name) does not fit this VM: \(error)")
        }
        let (stressed, stress) = try stressImage(image, name: name, seed: seed, rounds: rounds, ramBase: abi.ramBase, memory: memory,
                                                 vcpus: vcpus, builtin: BuiltinGuest.named(name) != nil || explicitGuest == nil && flatAddress == nil)
        let defaultTimeout = stress == nil ? 30 : StressParameters.timeoutSeconds(memory: memory)
        return Options(guestName: name, image: stressed, platform: resolved, autoNote: autoNote, memory: memory, vcpus: vcpus,
                       journalPath: journal, tracePath: trace, mapPath: map, timeout: timeout ?? defaultTimeout, transport: transport, backend: backend, kvmPath: kvmPath, kernelOrder: kernelOrder,
                       modelFlavour: modelFlavour, firmware: firmware, architecture: architecture, flatAddress: flatAddress, seed: seed, stress: stress, probe: gathered)
    }

    /// A stress guest gets the run's parameters written into its image; a
    /// built-in guest without them is single-processor, which x86_64 (where
    /// every vCPU starts at the entry) cannot run on more than one vCPU.
    static func stressImage(_ image: ELFImage, name: String, seed: UInt64, rounds: UInt64?, ramBase: UInt64, memory: UInt64,
                            vcpus: Int, builtin: Bool) throws(UsageError) -> (ELFImage, StressParameters?) {
        let parameters = StressParameters(seed: seed, rounds: rounds ?? StressParameters.defaultRounds, ramBase: ramBase,
                                          ramSize: memory, vcpus: vcpus)
        if let stressed = image.applying(parameters) { return (stressed, parameters) }
        if rounds != nil {
            throw UsageError("--rounds applies to the stress guests only (\(GuestArchitecture.allCases.compactMap { BuiltinGuest.stressGuest(for: $0)?.name }.joined(separator: ", "))); \(name) takes none")
        }
        if builtin, vcpus > 1, image.machine == .x86_64 {
            throw UsageError("guest \(name) is single-processor, and every x86_64 vCPU starts at its entry, so --vcpus \(vcpus) would run it \(vcpus) times over; use --vcpus 1, or x86_64-stress for several vCPUs")
        }
        return (image, nil)
    }

    /// A built-in guest by name, or an ELF64 file (any supported machine).
    static func loadGuest(_ argument: String) throws(UsageError) -> (String, ELFImage) {
        if let guest = BuiltinGuest.named(argument) {
            return (guest.name, try builtinImage(guest))
        }
        let bytes = try GuestFile.read(argument)
        do {
            return (argument, try ELFImage(bytes: bytes, expecting: nil))
        } catch .notELF {
            // Raw code is accepted only when the user says where it goes.
            throw UsageError("\(argument): \(ELFError.notELF); for a flat binary give its load address with --flat ADDRESS")
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
        // From here until the lifecycle installs its handlers, SIGINT/SIGTERM
        // wait (blocked) instead of killing a VMM that may hold a journal and
        // a /dev/kvm fd: the lifecycle takes a pending one as soon as it starts
        // and turns it into the safe teardown, before the guest runs.
        let previousMask = StopSignalMask.block()
        defer { StopSignalMask.restore(previousMask) }
        let recording = try RunRecording.open(trace: options.tracePath, map: options.mapPath)
        let journal: Journal
        do {
            journal = try Journal(path: options.journalPath)
        } catch {
            recording.abandon()
            throw UsageError(error.description)
        }
        let platform: Platform
        if let note = options.autoNote { output.line("pvmh: \(note)") }
        if options.platform == .model {
            platform = PKVMModelPlatform(configuration: ModelConfiguration(kernelOrder: options.kernelOrder, flavour: options.modelFlavour,
                                                                           firmware: options.firmware))
        } else {
            let probe = options.probe ?? HostProbe.gather(kvmPath: options.kvmPath, probeTransport: false)
            do {
                platform = try PlatformSelection.make(options.platform, probe: probe, kvmPath: options.kvmPath, transport: options.transport, firmware: options.firmware,
                                                      backend: options.backend)
            } catch {
                output.error("pvmh: \(error.description)")
                journal.record("error", [("message", .string(error.description))])
                journal.close()
                recording.record(.failed(error))
                _ = recording.write(output: output)
                return 1
            }
        }
        output.line("pvmh: platform \(platform.description.id) (\(platform.description.name))")
        output.line("pvmh: isolation enforced by \(platform.description.enforcement)")
        if let choice = platform.description.transportChoice {
            output.line("pvmh: share/unshare transport \(choice.name): \(choice.reason)")
        }
        let kind = options.flatAddress.map { " (flat binary at \(Format.hex($0)))" } ?? ""
        output.line("pvmh: guest \(options.guestName)\(kind), \(Format.bytes(options.memory)) RAM, \(options.vcpus) vCPU\(options.vcpus == 1 ? "" : "s"), entry \(Format.hex(options.image.entry))")
        if options.firmware != .none {
            output.line("pvmh: firmware \(options.firmware): vCPU 0 starts in it at the top \(FirmwareRegion.size >> 20) MiB of RAM, with the guest's entry in X1 and size in X2")
        }

        let ram = platform.guestABI.ram(size: options.memory)
        let runOptions = RunOptions(ram: ram, vcpus: options.vcpus, timeoutSeconds: options.timeout,
                                    plan: .safe, handleSignals: true, verificationSeed: options.seed)
        let lifecycle = ProtectedVMLifecycle(platform: platform, journal: journal, options: runOptions,
                                             guestName: options.guestName) { notice in
            recording.record(notice)
            RunPresenter.show(notice, output: output)
        }
        let report = lifecycle.run(image: options.image)
        RunPresenter.summary(report, output: output)
        let written = recording.write(output: output)
        return report.exitCode == 0 && !written ? 1 : report.exitCode
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

/// SIGINT/SIGTERM held back on the calling thread between parsing and the
/// lifecycle's own handlers (which unblock them).
enum StopSignalMask {
    static func block() -> sigset_t {
        var set = sigset_t(), previous = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, &previous)
        return previous
    }

    static func restore(_ previous: sigset_t) {
        var previous = previous
        pthread_sigmask(SIG_SETMASK, &previous, nil)
    }
}

/// Reads a guest image file with one clear sentence per failure. The file is
/// checked with stat before it is opened, so a FIFO or a device is refused
/// without being opened (opening a tape rewinds it; a FIFO blocks), and the
/// opened fd is checked again, so a file swapped in between is refused too.
/// Every path closes the fd: 1000 bad files leave no fd behind (BadInputTests).
enum GuestFile {
    static let maximumSize = 64 << 20

    static func read(_ path: String) throws(UsageError) -> [UInt8] {
        try read(path, what: "guest", hint: "give an ELF64 executable")
    }

    /// A `--flat` file: the same rules, and an ELF file is refused (its
    /// headers would run as code).
    static func readFlat(_ path: String) throws(UsageError) -> [UInt8] {
        let bytes = try read(path, what: "flat binary", hint: "give a file of raw guest code")
        if bytes.starts(with: [0x7F, 0x45, 0x4C, 0x46]) {
            throw UsageError("flat binary \(path) is an ELF file, whose headers would run as code; drop --flat and pvmh loads it from its headers")
        }
        return bytes
    }

    private static func read(_ path: String, what: String, hint: String) throws(UsageError) -> [UInt8] {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let error = errno
            let why = error == ENOENT
                ? "no such file and no built-in guest of that name (built-in: \(BuiltinGuest.all.map(\.name).joined(separator: ", ")); `pvmh guest list`)"
                : String(cString: strerror(error))
            throw UsageError("cannot read \(what) \(path): \(why)")
        }
        try checkKind(info, path: path, what: what, hint: hint)
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            throw UsageError("cannot open \(what) \(path): \(String(cString: strerror(errno))); check its permissions")
        }
        defer { close(fd) }
        guard fstat(fd, &info) == 0 else {
            throw UsageError("cannot read \(what) \(path): \(String(cString: strerror(errno)))")
        }
        try checkKind(info, path: path, what: what, hint: hint)
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else {
                throw UsageError("reading \(what) \(path) failed after \(count) of \(bytes.count) bytes: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            count += n
        }
        guard count == bytes.count else {
            throw UsageError("reading \(what) \(path) stopped after \(count) of \(bytes.count) bytes: the file shrank while pvmh read it")
        }
        return bytes
    }

    /// Regular, non-empty files of at most `maximumSize` bytes.
    private static func checkKind(_ info: stat, path: String, what: String, hint: String) throws(UsageError) {
        let kind: String? = switch info.st_mode & S_IFMT {
        case S_IFREG: nil
        case S_IFDIR: "a directory"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        default: "not a regular file"
        }
        if let kind { throw UsageError("\(what) \(path) is \(kind); \(hint)") }
        guard info.st_size > 0 else { throw UsageError("\(what) \(path) is empty; \(hint)") }
        guard info.st_size <= maximumSize else {
            throw UsageError("\(what) \(path) is \(info.st_size) bytes, more than the \(maximumSize >> 20) MiB pvmh accepts for an image")
        }
    }
}
