import Glibc
@testable import PVMHCommand
import Testing

/// A guest path that cannot be a guest is exit 2 with the path in the
/// message, and nothing else happens: no platform is chosen, no VM created.
@Suite("guest image files")
struct GuestFileTests {
    enum BadGuest: String, CaseIterable, Sendable {
        case missing, directory, empty, text, truncatedELF, elf32, wrongMachine

        /// The file (or directory) to hand `pvmh run`, and a phrase its error must contain.
        func make(in directory: TemporaryDirectory) throws -> (path: String, phrase: String) {
            switch self {
            case .missing:
                return (directory.file("no-such-guest.elf"), "no such file and no built-in guest of that name")
            case .directory:
                let path = directory.file("a-directory")
                guard mkdir(path, 0o700) == 0 else { throw TestFailure("mkdir \(path)") }
                return (path, "is a directory")
            case .empty:
                return (try directory.write("empty.elf", []), "is empty")
            case .text:
                return (try directory.write("notes.txt", Array("#!/bin/sh\necho not a guest\n".utf8)), "")
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
