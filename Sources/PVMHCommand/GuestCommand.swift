import Glibc
import GuestImage

/// `pvmh guest list` / `pvmh guest export NAME FILE`.
enum GuestCommand {
    static let help = """
    usage: pvmh guest list
           pvmh guest export NAME FILE

    The guest images built into pvmh (built from Guests/ by Guests/build).
    `export` writes one as an ELF file, so the same image can run under QEMU
    or on a board with other tools.
    """

    static func main(_ args: [String], output: Output) throws(UsageError) -> Int32 {
        guard let sub = args.first else { throw UsageError("`pvmh guest` needs list or export; see `pvmh guest --help`") }
        var arguments = Arguments(Array(args.dropFirst()), command: "guest \(sub)")
        switch sub {
        case "list":
            _ = try arguments.positionals(max: 0)
            for guest in BuiltinGuest.all {
                output.line("\(Format.padded(guest.name, 16)) \(Format.padded(guest.architecture.rawValue, 8)) \(Format.bytes(UInt64(guest.elfBytes.count)))  \(guest.summary)")
            }
            return 0
        case "export":
            let rest = try arguments.positionals(max: 2)
            guard rest.count == 2 else { throw UsageError("usage: pvmh guest export NAME FILE (names: \(BuiltinGuest.all.map(\.name).joined(separator: ", ")))") }
            guard let guest = BuiltinGuest.named(rest[0]) else {
                throw UsageError("no built-in guest named \(rest[0]); `pvmh guest list` shows \(BuiltinGuest.all.map(\.name).joined(separator: ", "))")
            }
            guard let file = fopen(rest[1], "we") else {
                output.error("pvmh: cannot write \(rest[1]): \(String(cString: strerror(errno))); choose a writable path")
                return 2
            }
            let written = guest.elfBytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
            let closed = fclose(file)
            guard written == guest.elfBytes.count, closed == 0 else {
                output.error("pvmh: writing \(rest[1]) failed: \(String(cString: strerror(errno))); check free space")
                return 1
            }
            output.line("wrote \(guest.name) (\(guest.architecture), \(guest.elfBytes.count) bytes) to \(rest[1])")
            return 0
        default:
            throw UsageError("unknown `pvmh guest` command \(sub); use list or export")
        }
    }
}
