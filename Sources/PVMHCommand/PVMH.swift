import Checks

/// The `pvmh` command line. Exit codes: 0 success, 1 a failed check or guest
/// failure, 2 bad usage or bad input.
public enum PVMH {
    static let help = """
    pvmh — a protected-VM lifecycle harness

    usage: pvmh <command> [options]

    commands:
      run [GUEST]   boot a guest (default: the built-in demo) with all memory
                    private, handle its share/unshare requests, tear down in
                    the safe order and print the verdict
      check         the teardown-ordering regression suite (KTAP output)
      bench         the harness against the raw-ioctl C baseline and QEMU (ratios)
      probe         what this host supports and which platform run would use
      guest         list or export the built-in guest images
      help          this text; `pvmh <command> --help` for a command

    exit codes: 0 success, 1 failed check or guest failure, 2 bad usage or input
    """

    public static func main(arguments: [String], output: Output = .standard()) -> Int32 {
        guard let command = arguments.first else {
            output.line(help)
            return 0
        }
        let rest = Array(arguments.dropFirst())
        let wantsHelp = rest.contains("--help") || rest.contains("-h")
        do throws(UsageError) {
            switch command {
            case "help", "--help", "-h":
                output.line(help)
                return 0
            case "probe":
                if wantsHelp { output.line(ProbeCommand.help); return 0 }
                return try ProbeCommand.main(rest, output: output)
            case "run":
                if wantsHelp { output.line(RunCommand.help); return 0 }
                return try RunCommand.main(rest, output: output)
            case "check":
                if wantsHelp { output.line(CheckCommand.help); return 0 }
                return try CheckCommand.main(rest, output: output)
            case "bench":
                if wantsHelp { output.line(BenchCommand.help); return 0 }
                return try BenchCommand.main(rest, output: output)
            case "_child":
                // A child VMM the regression suite starts (not for people).
                return ChildScenarios.run(rest)
            case "guest":
                if wantsHelp { output.line(GuestCommand.help); return 0 }
                return try GuestCommand.main(rest, output: output)
            default:
                throw UsageError("unknown command \(command); run `pvmh help` for the list")
            }
        } catch {
            output.error("pvmh: \(error.message)")
            return 2
        }
    }
}
