import GuestImage
import PVMHCommand
import Testing

/// The malformed-image corpus (Tests/GuestImageTests/ELFBuilder.swift,
/// symlinked here) through `pvmh run`: every ELF rule is exit 2 with one
/// sentence that names the file and the rule's own message, and nothing
/// starts (no platform line, no journal).
@Suite("malformed guest images through pvmh run")
struct MalformedImageCLITests {
    /// The images this host can put in front of the rule they test (an
    /// arm64 image is "wrong" for x86_64 KVM only where KVM is x86_64).
    static let runnable = MalformedImage.corpus.filter { image in
        if case .wrongMachine(_, let expected) = image.expected, expected == .x86_64 {
            #if arch(x86_64)
            return true
            #else
            return false
            #endif
        }
        return true
    }

    /// `pvmh run` arguments for `image` at `path`, and the exact error line.
    static func invocation(_ image: MalformedImage, path: String) -> (arguments: [String], line: String) {
        let platform = image.architecture == .aarch64 ? "model" : "kvm"
        var arguments = ["run", path, "--platform", platform]
        let line: String
        switch image.stage {
        case .parse:
            switch image.expected {
            case .wrongMachine(let found, let expected):
                line = expected == .aarch64
                    ? "pvmh: guest \(path) is for \(found), but the pKVM model runs aarch64 guests"
                    : "pvmh: guest \(path) is for \(found), but KVM on this host runs \(expected) guests; run it with --platform model"
            case .notELF:
                line = "pvmh: \(path): \(image.expected); for a flat binary give its load address with --flat ADDRESS"
            default:
                line = "pvmh: \(path): \(image.expected)"
            }
        case .placement:
            line = "pvmh: guest \(path) does not fit this VM: \(image.expected)"
        case .flat(let address, _):
            arguments += ["--flat", "0x" + String(address, radix: 16)]
            line = image.bytes.isEmpty
                ? "pvmh: flat binary \(path) is empty; give a file of raw guest code"
                : "pvmh: \(path): \(image.expected)"
        }
        return (arguments, line)
    }

    @Test("exit 2, the rule's sentence, nothing started", arguments: runnable)
    func refused(_ image: MalformedImage) throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("guest.img", image.bytes)
        let journal = directory.file("journal.jsonl")
        let (arguments, line) = Self.invocation(image, path: path)
        let result = pvmh(arguments + ["--journal", journal, "--kvm", "/nonexistent/kvm"])
        #expect(result.status == 2)
        #expect(result.out.isEmpty, "nothing may start: \(result.out)")
        #expect(result.err == line + "\n")
        #expect(isOneSentence(String(result.errLines.first ?? "")))
        #expect(readFile(journal) == nil, "no journal for a bad image")
    }
}
