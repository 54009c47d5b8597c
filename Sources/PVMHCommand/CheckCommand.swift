import Checks
import GuestImage
import Glibc
import Lifecycle
import Platforms

/// `pvmh check`: the teardown-ordering regression suite, in KTAP.
enum CheckCommand {
    static let help = """
    usage: pvmh check [--platform auto|kvm|model|all|ID] [--filter GLOB] [--list]
                      [--repeat N] [--seed S] [--pretty] [--trace DIR]
                      [--vcpus N] [--memory SIZE] [--rounds N]

    Runs the regression scenarios (teardown orders, kill during run,
    guest_memfd behaviour, the share/unshare protocol, a lifecycle soak, the
    stress guest on several vCPUs) and
    prints KTAP on stdout: `ok N name`, `not ok N name # reason`,
    `ok N name # SKIP reason`, then `# Totals: …`. A human summary goes to
    stderr. Exit 0 only when nothing failed. Docs/checks.md explains each
    scenario and its verdict rule.

      --platform P   auto (default: KVM if usable here, else the model); kvm (the
                     KVM platform auto picks, named [kvm]); model; all (every
                     KVM platform this host has, the others named by their
                     id, e.g. [x86_64-memfd], then the model); or one
                     platform id from `pvmh probe`
      --filter GLOB  only scenarios whose name (or name[platform]) matches,
                     e.g. 'teardown.*' or 'gmem.*[kvm]'
      --list         print the catalogue with the platforms each applies to
      --repeat N     lifecycles in the soak scenarios (default 10, 1…100000)
      --vcpus N      vCPUs of the stress scenarios (default 4, 1…8; a platform
                     that runs fewer runs its most)
      --memory SIZE  guest RAM of the stress scenarios (default 16M, 2M…4095M)
      --rounds N     share/unshare rounds per vCPU in stress.run (default 32,
                     1…1000000)
      --seed S       seed for random kill points (default: from the clock;
                     printed, so a run can be reproduced)
      --pretty       a human table on stdout instead of KTAP
      --trace DIR    write the timeline of each scenario that runs a lifecycle to
                     DIR/<scenario>.<platform>.json (Chrome trace-event JSON for
                     ui.perfetto.dev; one process per lifecycle; DIR is created
                     if its parent exists)
    """

    static func main(_ args: [String], output: Output) throws(UsageError) -> Int32 {
        var arguments = Arguments(args, command: "check")
        let list = arguments.flag("--list")
        let pretty = arguments.flag("--pretty")
        let platformText = try arguments.option("--platform") ?? "auto"
        let filter = try arguments.option("--filter")
        let repeatText = try arguments.option("--repeat")
        let seedText = try arguments.option("--seed")
        let traceDirectory = try arguments.option("--trace")
        let vcpusText = try arguments.option("--vcpus")
        let memoryText = try arguments.option("--memory")
        let roundsText = try arguments.option("--rounds")
        _ = try arguments.positionals(max: 0)
        if let traceDirectory, !list { try prepareTraceDirectory(traceDirectory) }

        let repeatCount = try repeatText.map { text throws(UsageError) -> Int in
            guard let value = Int(text), (1...100_000).contains(value) else {
                throw UsageError("--repeat \(text) is not a count; give a whole number from 1 to 100000")
            }
            return value
        } ?? 10
        let seed = try seedText.map { text throws(UsageError) -> UInt64 in
            guard let value = UInt64(text) else { throw UsageError("--seed \(text) is not a seed; give a whole number from 0 to \(UInt64.max)") }
            return value
        } ?? monotonicNanoseconds()

        var stress = StressLoad()
        if let vcpusText { stress.vcpus = try ValueParser.vcpuCount(vcpusText, maximum: StressParameters.maximumVCPUs) }
        if let memoryText { stress.memory = try ValueParser.memorySize(memoryText, minimum: RunCommand.minimumMemory, maximum: 4095 << 20) }
        if let roundsText {
            guard let value = UInt64(roundsText), (1...1_000_000).contains(value) else {
                throw UsageError("--rounds \(roundsText) is not a round count; give a whole number from 1 to 1000000")
            }
            stress.rounds = value
        }

        let probe = platformText == "model" ? HostProbe(architecture: "", kernelRelease: "") : HostProbe.gather(probeTransport: false)
        guard let targets = CheckCatalogue.targets(for: platformText, probe: probe) else {
            throw UsageError("--platform \(platformText) is not a platform; use auto, kvm, model, all or a platform id from `pvmh probe` (\(probe.platforms.map(\.id).joined(separator: ", ")))")
        }

        if list {
            for scenario in CheckCatalogue.scenarios(repeatCount: repeatCount) {
                output.line("\(Format.padded(scenario.name, 40)) \(Format.padded(scenario.platforms.map(\.rawValue).joined(separator: ","), 10)) expects \(scenario.expected.rawValue): \(scenario.summary)")
            }
            return 0
        }
        let selected = CheckCatalogue.selection(targets: targets, filter: filter, repeatCount: repeatCount)
        if selected.isEmpty {
            throw UsageError("no scenario matches --filter \(filter ?? "") on \(platformText); see `pvmh check --list`")
        }

        var rows: [(String, CheckOutcome, UInt64)] = []
        var options = CheckOptions(targets: targets, filter: filter, repeatCount: repeatCount, seed: seed,
                                   executable: selfExecutable())
        options.traceDirectory = traceDirectory
        options.stress = stress
        let emit: (String) -> Void = pretty ? { _ in } : { output.line($0) }
        // Diagnostics follow the KTAP version line and plan (strict parsers
        // reject anything before them).
        options.header = ["pvmh check: seed \(seed), platforms \(targets.map(\.label).joined(separator: ",")), stress load \(stress.vcpus) vCPUs, \(Format.bytes(stress.memory)), \(stress.rounds) rounds"]
            + targets.filter { $0.kind == .kvm }.map { target in
                "[\(target.label)] is \(target.kvmPlatformID.flatMap { id in probe.platforms.first { $0.id == id }.map { "\($0.id) (\($0.name))" } } ?? "no KVM platform (none is usable here)")"
            }
        let totals = CheckRunner.run(options, emit: emit) { name, outcome, nanoseconds in
            rows.append((name, outcome, nanoseconds))
            let line = humanLine(name, outcome, nanoseconds)
            if pretty { output.line(line) } else { output.error(line) }
        }
        let summary = "pvmh check: \(totals.passed) passed, \(totals.failed) failed, \(totals.skipped) skipped (seed \(seed))"
        if pretty { output.line(summary) } else { output.error(summary) }
        return totals.failed == 0 ? 0 : 1
    }

    static func humanLine(_ name: String, _ outcome: CheckOutcome, _ nanoseconds: UInt64) -> String {
        let time = Format.padded(Format.duration(nanoseconds), 10)
        switch outcome {
        case .pass: return "  PASS  \(time) \(name)"
        case .fail(let why): return "  FAIL  \(time) \(name): \(why)"
        case .skip(let why): return "  SKIP  \(time) \(name): \(why)"
        }
    }

    /// `--trace DIR`: an existing writable directory, or one made now (its
    /// parent must exist), before any scenario runs.
    static func prepareTraceDirectory(_ path: String) throws(UsageError) {
        let advice = "choose a writable directory for --trace"
        var info = stat()
        if stat(path, &info) != 0 {
            let error = errno
            guard error == ENOENT else {
                throw UsageError("cannot use trace directory \(path): \(String(cString: strerror(error))); \(advice)")
            }
            guard mkdir(path, 0o755) == 0 else {
                throw UsageError("cannot create trace directory \(path): \(String(cString: strerror(errno))); \(advice)")
            }
            return
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw UsageError("trace directory \(path) is not a directory; \(advice)")
        }
        guard access(path, W_OK | X_OK) == 0 else {
            throw UsageError("cannot write in trace directory \(path): \(String(cString: strerror(errno))); \(advice)")
        }
    }

    /// /proc/self/exe, for scenarios that start a child VMM.
    static func selfExecutable() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return nil }
        let path = String(decoding: buffer.prefix(length), as: UTF8.self)
        return path.hasSuffix("/pvmh") ? path : nil
    }
}
