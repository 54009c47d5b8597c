import PVMHCommand
import Testing

/// Help, usage and the errors for commands and options pvmh does not know.
/// None of these may touch KVM.
@Suite("usage and help")
struct UsageTests {
    @Test("no arguments, help, --help and -h print the usage and return 0", arguments: [[], ["help"], ["--help"], ["-h"]])
    func usage(_ arguments: [String]) {
        let result = pvmh(arguments)
        #expect(result.status == 0)
        #expect(result.err.isEmpty)
        #expect(result.out.contains("usage: pvmh <command> [options]"))
        for command in ["run", "probe", "guest", "help"] {
            #expect(result.out.contains("\n  \(command) "), "usage lists \(command)")
        }
        #expect(result.out.contains("exit codes: 0 success, 1 failed check or guest failure, 2 bad usage or input"))
    }

    @Test("run --help mentions every option", arguments: [["run", "--help"], ["run", "-h"], ["run", "--memory", "bogus", "--help"]])
    func runHelp(_ arguments: [String]) {
        let result = pvmh(arguments)
        #expect(result.status == 0)
        #expect(result.err.isEmpty)
        #expect(result.out.contains("usage: pvmh run [GUEST]"))
        for option in ["--platform", "--memory", "--journal", "--timeout", "--transport", "--kvm"] {
            #expect(result.out.contains("  \(option) "), "run --help documents \(option)")
        }
        for value in ["auto|kvm", "auto|vmcall|doorbell", "4M", "64MiB", "1G", "/dev/kvm"] {
            #expect(result.out.contains(value))
        }
        #expect(!result.out.contains("pvmh: platform"), "help must not start a VM")
        #expect(everySynopsisOptionIsDescribed(result.out))
    }

    @Test("probe --help mentions --json, --refresh and --kvm")
    func probeHelp() {
        let result = pvmh("probe", "--help")
        #expect(result.status == 0)
        #expect(result.err.isEmpty)
        #expect(result.out.contains("usage: pvmh probe [--json] [--refresh] [--kvm PATH]"))
        #expect(result.out.contains("  --json "))
        #expect(result.out.contains("  --refresh "))
        #expect(result.out.contains("  --kvm PATH "))
        #expect(!result.out.contains("host:"), "help must not probe")
        #expect(everySynopsisOptionIsDescribed(result.out))
    }

    @Test("guest --help mentions list and export")
    func guestHelp() {
        let result = pvmh("guest", "--help")
        #expect(result.status == 0)
        #expect(result.err.isEmpty)
        #expect(result.out.contains("usage: pvmh guest list"))
        #expect(result.out.contains("pvmh guest export NAME FILE"))
    }

    @Test("an unknown command is exit 2 with one sentence naming it", arguments: ["frobnicate", "Run", "--json", "probe-all"])
    func unknownCommand(_ command: String) {
        let result = pvmh(command)
        #expect(result.status == 2)
        #expect(result.out.isEmpty)
        #expect(result.errLines.count == 1)
        let line = String(result.errLines.first ?? "")
        #expect(line == "pvmh: unknown command \(command); run `pvmh help` for the list")
        #expect(isOneSentence(line))
    }

    @Test("an unknown option is exit 2 naming the option", arguments: [
        ["run", "--bogus"], ["run", "--memory", "4M", "--verbose"], ["run", "-x"],
        ["probe", "--yaml"], ["guest", "list", "--all"], ["guest", "export", "--force", "x86_64-demo", "/tmp/x"],
    ])
    func unknownOption(_ arguments: [String]) throws {
        let option = try #require(arguments.last { $0.hasPrefix("-") })
        let result = pvmh(arguments)
        #expect(result.status == 2)
        #expect(result.errLines.count == 1)
        let line = String(result.errLines.first ?? "")
        #expect(line.contains("unknown option \(option)"))
        #expect(line.contains("`pvmh \(arguments[0])"))
        #expect(isOneSentence(line))
        #expect(!result.out.contains("pvmh: platform"))
        #expect(!result.out.contains("host:"))
    }

    @Test("an option without its value is exit 2", arguments: ["--memory", "--journal", "--timeout", "--platform", "--kvm"])
    func missingValue(_ option: String) {
        let result = pvmh("run", option)
        #expect(result.status == 2)
        #expect(result.err == "pvmh: \(option) needs a value; see `pvmh run --help`\n")
        let followed = pvmh("run", option, "--journal=/dev/null")
        #expect(followed.status == 2)
    }

    @Test("too many positional arguments is exit 2")
    func tooManyArguments() {
        let result = pvmh("run", "a", "b")
        #expect(result.status == 2)
        #expect(result.err.contains("`pvmh run` takes at most 1 argument, got a b"))
        let probe = pvmh("probe", "extra")
        #expect(probe.status == 2)
        #expect(probe.err.contains("`pvmh probe` takes at most 0 arguments"))
    }

    @Test("guest without a subcommand, or an unknown one, is exit 2")
    func guestSubcommands() {
        let bare = pvmh("guest")
        #expect(bare.status == 2)
        #expect(bare.err.contains("needs list or export"))
        let unknown = pvmh("guest", "import")
        #expect(unknown.status == 2)
        #expect(unknown.err.contains("unknown `pvmh guest` command import"))
    }
}

/// Every `--option` in a help text's usage lines (up to the first blank line)
/// has its own indented description line.
func everySynopsisOptionIsDescribed(_ help: String) -> Bool {
    let lines = help.split(separator: "\n", omittingEmptySubsequences: false)
    let synopsis = lines.prefix { !$0.isEmpty }.joined(separator: " ")
    let options = synopsis.split(whereSeparator: { " []|".contains($0) }).filter { $0.hasPrefix("--") }
    guard !options.isEmpty else { return false }
    return options.allSatisfy { option in lines.contains { $0.hasPrefix("  \(option) ") || $0.hasPrefix("  \(option)=") } }
}

/// One line, with no full stop followed by another sentence ("x. Y").
func isOneSentence(_ line: String) -> Bool {
    !line.contains("\n") && !line.contains(". ") && !line.isEmpty
}
