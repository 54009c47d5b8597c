import Glibc
import GuestImage
import PVMHTestSupport
@testable import PVMHCommand
import Testing

/// A guest path that cannot be a guest is exit 2 with the path in the
/// message, and nothing else happens: no platform is chosen, no VM created.
@Suite("guest image files")
struct GuestFileTests {
    enum BadGuest: String, CaseIterable, Sendable {
        case missing, directory, empty, text, truncatedELF, elf32, wrongMachine
        case fifo, characterDevice, symlinkLoop, notADirectory, tooLarge

        /// The file (or directory) to hand `pvmh run`, and a phrase its error must contain.
        func make(in directory: TemporaryDirectory) throws -> (path: String, phrase: String) {
            switch self {
            case .missing:
                return (directory.file("no-such-guest.elf"), "no such file and no built-in guest of that name (built-in: \(BuiltinGuest.all.map(\.name).joined(separator: ", ")); `pvmh guest list`)")
            case .directory:
                let path = directory.file("a-directory")
                guard mkdir(path, 0o700) == 0 else { throw TestFailure("mkdir \(path)") }
                return (path, "is a directory")
            case .empty:
                return (try directory.write("empty.elf", []), "is empty")
            case .fifo:
                // Refused from stat alone: opening a FIFO would block.
                let path = directory.file("a-fifo")
                guard mkfifo(path, 0o600) == 0 else { throw TestFailure("mkfifo \(path)") }
                return (path, "is a FIFO; give an ELF64 executable")
            case .characterDevice:
                return ("/dev/null", "is a character device; give an ELF64 executable")
            case .symlinkLoop:
                let path = directory.file("loop")
                guard symlink(path, path) == 0 else { throw TestFailure("symlink \(path)") }
                return (path, "cannot read guest \(path): Too many levels of symbolic links")
            case .notADirectory:
                let file = try directory.write("plain", [1])
                return (file + "/guest.elf", "Not a directory")
            case .tooLarge:
                // Sparse: 65 MiB on paper, nothing on disk.
                let path = try directory.write("huge.elf", [0x7F])
                guard truncate(path, 65 << 20) == 0 else { throw TestFailure("truncate \(path)") }
                return (path, "is 68157440 bytes, more than the 64 MiB pvmh accepts for an image")
            case .text:
                return (try directory.write("notes.txt", Array("#!/bin/sh\necho not a guest\n".utf8)),
                        "is not an ELF file (it does not start with 0x7F 'E' 'L' 'F'); pass an ELF64 executable such as the ones Guests/build writes; for a flat binary give its load address with --flat ADDRESS")
            case .truncatedELF:
                return (try directory.write("truncated.elf", [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1]), "")
            case .elf32:
                var header = [UInt8](repeating: 0, count: 64)
                header.replaceSubrange(0..<7, with: [0x7F, 0x45, 0x4C, 0x46, 1, 1, 1])
                return (try directory.write("elf32.elf", header), "")
            case .wrongMachine:
                // A well-formed ELF64 header for aarch64 (e_machine 183), which
                // the x86_64 KVM platforms cannot run (and vice versa).
                var header = [UInt8](repeating: 0, count: 64)
                header.replaceSubrange(0..<7, with: [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1])
                header[16] = 2                       // ET_EXEC
                #if arch(x86_64)
                header[18] = 183                     // EM_AARCH64
                #else
                header[18] = 62                      // EM_X86_64
                #endif
                header[20] = 1                       // e_version
                header[52] = 64                      // e_ehsize
                header[54] = 56                      // e_phentsize
                return (try directory.write("other-arch.elf", header), "")
            }
        }
    }

    @Test("a bad guest path is exit 2 naming the path, before any VM", arguments: BadGuest.allCases)
    func badGuest(_ kind: BadGuest) throws {
        let directory = try TemporaryDirectory()
        let (path, phrase) = try kind.make(in: directory)
        let journal = directory.file("journal.jsonl")
        let result = pvmh("run", path, "--platform", "kvm", "--journal", journal, "--kvm", "/nonexistent/kvm")
        #expect(result.status == 2)
        #expect(result.errLines.count == 1, "\(result.err)")
        let line = String(result.errLines.first ?? "")
        #expect(line.hasPrefix("pvmh: "))
        #expect(line.contains(path), "the message names the path: \(line)")
        #expect(phrase.isEmpty || line.contains(phrase), "\(line)")
        #expect(!result.out.contains("platform"), "no platform may be chosen: \(result.out)")
        #expect(result.out.isEmpty)
        #expect(readFile(journal) == nil, "no journal may be opened for a bad image")
    }

    @Test("a file its owner cannot read is exit 2 saying so (run as nobody when the tests run as root)")
    func unreadable() throws {
        let directory = try TemporaryDirectory()
        chmod(directory.path, 0o755)
        let path = try directory.write("secret.elf", makeELF(machine: .x86_64, code: [0xF4], address: 0x100000))
        chmod(path, 0)
        let arguments = ["run", path, "--platform", "kvm", "--kvm", "/nonexistent/kvm"]
        let line: String
        if getuid() == 0 {
            // Root reads anything: ask setpriv to run the binary as nobody.
            let executable = try #require(Subprocess.pvmhExecutable(), "the pvmh binary is not next to the test bundle")
            let candidates: [String] = ["/usr/bin/setpriv", "/bin/setpriv"]
            let setpriv = try #require(candidates.first { (path: String) in access(path, X_OK) == 0 },
                                       "util-linux's setpriv is needed to test an unreadable file as root")
            let result = try Subprocess.run(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", executable] + arguments, timeout: 20)
            #expect(result.exitCode == 2, "\(result.summary)")
            #expect(result.out.isEmpty)
            line = result.err
        } else {
            let result = pvmh(arguments)
            #expect(result.status == 2)
            line = result.err
        }
        #expect(line == "pvmh: cannot open guest \(path): Permission denied; check its permissions\n")
    }

    @Test("a real ELF guest file is accepted by the parser")
    func exportedGuestParses() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("demo.elf")
        #expect(pvmh("guest", "export", "x86_64-demo", path).status == 0)
        #if arch(x86_64)
        let options = try RunCommand.parse([path, "--platform", "kvm"])
        #expect(options.guestName == path)
        #expect(options.image.entry == 0x10_0000)
        #endif
    }
}
