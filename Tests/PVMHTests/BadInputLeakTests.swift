import Glibc
import GuestImage
import Lifecycle
import PVMHCommand
import Testing

/// 1000 random bad inputs — malformed images (the corpus, and real guest
/// images padded to 1 MiB and broken one way each) and bad options — through
/// `PVMH.main` in this process. Each must be exit 2 before any VM; together
/// they must leave no fd and no memory behind.
///
/// Tolerances: this process also runs other suites in parallel, so the fd
/// count may move by a few fds they hold, and RSS by what they allocate. A
/// leak here would be per input: one fd per run is 1000 fds, and a leaked
/// read buffer is 1 MiB per image run (about 300 MiB), far outside both
/// tolerances (8 fds, 32 MiB). Any fd left pointing into this test's
/// directory or at /dev/kvm fails the test outright.
@Suite("1000 random bad inputs leave nothing behind", .serialized)
struct BadInputLeakTests {
    static let runs = 1000
    static let seed: UInt64 = 0x7076_6D68_0007_0001

    @Test func thousandRandomBadInputsLeaveNoFdOrMemory() throws {
        var random = SplitMix64(seed: Self.seed)
        let directory = try TemporaryDirectory()
        let inputs = try BadInputs(directory: directory, random: &random)

        // Warm up: first-use allocations (built-in guests, the corpus, the
        // allocator's arenas) are not leaks.
        for _ in 0..<100 { _ = try check(inputs.pick(&random), in: directory) }

        let fdsBefore = openDescriptors()
        let rssBefore = residentBytes()
        let start = Subprocess.now()
        var statuses: [Int32: Int] = [:]
        for _ in 0..<Self.runs {
            statuses[try check(inputs.pick(&random), in: directory), default: 0] += 1
        }
        let milliseconds = Int((Subprocess.now() - start) * 1000)
        let fdsAfter = openDescriptors()
        let rssAfter = residentBytes()

        print("bad-input leak test (seed 0x\(String(Self.seed, radix: 16))): \(Self.runs) runs in \(milliseconds) ms; fds \(fdsBefore.count) → \(fdsAfter.count); RSS \(rssBefore >> 10) KiB → \(rssAfter >> 10) KiB (Δ \((Int64(rssAfter) - Int64(rssBefore)) / 1024) KiB)")
        #expect(statuses == [2: Self.runs], "every bad input is exit 2: \(statuses)")
        let suspicious = fdsAfter.filter { $0.hasPrefix(directory.path) || $0 == "/dev/kvm" || $0.contains("kvm") }
        #expect(suspicious.isEmpty, "fds left behind: \(suspicious)")
        #expect(fdsAfter.count - fdsBefore.count <= 8, "fds \(fdsBefore.count) → \(fdsAfter.count): \(Set(fdsAfter).subtracting(fdsBefore))")
        #expect(Int64(rssAfter) - Int64(rssBefore) < 32 << 20, "RSS grew from \(rssBefore >> 10) KiB to \(rssAfter >> 10) KiB")
        #expect(readFile(directory.file("journal.jsonl")) == nil, "no run got as far as opening its journal")
    }

    /// Runs one input: exit 2, nothing on stdout, one sentence on stderr.
    func check(_ arguments: [String], in directory: TemporaryDirectory) throws -> Int32 {
        let result = pvmh(["run"] + arguments + ["--kvm", "/nonexistent/kvm", "--journal", directory.file("journal.jsonl")])
        #expect(result.status == 2, "\(arguments): \(result.err)")
        #expect(result.out.isEmpty, "\(arguments): \(result.out)")
        #expect(result.errLines.count == 1, "\(arguments): \(result.err)")
        return result.status
    }

    /// Link targets of every open fd.
    func openDescriptors() -> [String] {
        guard let dir = opendir("/proc/self/fd") else { return [] }
        defer { closedir(dir) }
        let own = dirfd(dir)
        var targets: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let fd = Int32(name), fd != own else { continue }
            var buffer = [UInt8](repeating: 0, count: 512)
            let length = readlink("/proc/self/fd/\(name)", &buffer, buffer.count - 1)
            targets.append(length > 0 ? String(decoding: buffer.prefix(length), as: UTF8.self) : "?")
        }
        return targets
    }

    /// Resident set size from /proc/self/statm.
    func residentBytes() -> UInt64 {
        guard let text = readFile("/proc/self/statm").map({ String(decoding: $0, as: UTF8.self) }) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = UInt64(fields[1]) else { return 0 }
        return pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
    }
}

/// The pool of bad inputs: files made once, options drawn fresh each time.
struct BadInputs {
    var images: [[String]] = []

    init(directory: TemporaryDirectory, random: inout SplitMix64) throws {
        // The corpus, each with the platform its rule needs.
        for (index, image) in MalformedImageCLITests.runnable.enumerated() {
            let path = try directory.write("corpus-\(index).img", image.bytes)
            images.append(Array(MalformedImageCLITests.invocation(image, path: path).arguments.dropFirst()))
        }
        // Real guests padded to 1 MiB, each broken in one of ten ways.
        for index in 0..<40 {
            let guest = BuiltinGuest.all[index % BuiltinGuest.all.count]
            var bytes = guest.elfBytes
            var padding = [UInt64](repeating: 0, count: ((1 << 20) - bytes.count) / 8)
            for i in padding.indices { padding[i] = random.next() }
            bytes += padding.withUnsafeBytes { Array($0) }
            Self.breakImage(&bytes, how: index % 10, random: &random)
            let path = try directory.write("broken-\(index).elf", bytes)
            images.append([path, "--platform", guest.architecture == .aarch64 ? "model" : "kvm"])
        }
        try directory.write("empty.elf", [])
        mkdir(directory.file("a-directory"), 0o700)
        mkfifo(directory.file("a-fifo"), 0o600)
        images += [[directory.file("empty.elf")], [directory.file("a-directory")], [directory.file("a-fifo")],
                   ["/dev/null"], [directory.file("missing.elf")], ["no-such-builtin"],
                   ["--flat", "0x40080000", directory.file("broken-1.elf"), "--platform", "model"]]
    }

    /// One thing wrong that no padding or noise can make right.
    static func breakImage(_ bytes: inout [UInt8], how: Int, random: inout SplitMix64) {
        func put16(_ value: UInt16, at offset: Int) { bytes[offset] = UInt8(value & 0xFF); bytes[offset + 1] = UInt8(value >> 8) }
        func put64(_ value: UInt64, at offset: Int) { for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) } }
        switch how {
        case 0: bytes[Int.random(in: 0...3, using: &random)] ^= UInt8.random(in: 1...255, using: &random)   // magic
        case 1: bytes[4] = [0, 1, 3, 0xFF][Int.random(in: 0...3, using: &random)]                           // EI_CLASS
        case 2: bytes[5] = [0, 2, 0x7F][Int.random(in: 0...2, using: &random)]                               // EI_DATA
        case 3: put16([0, 1, 3, 4, 0xFE00][Int.random(in: 0...4, using: &random)], at: 16)                 // e_type
        case 4: put16(UInt16.random(in: 184...UInt16.max, using: &random), at: 18)                          // e_machine
        case 5: put16(UInt16.random(in: 57...UInt16.max, using: &random), at: 54)                           // e_phentsize
        case 6: put16(UInt16.random(in: 257...UInt16.max, using: &random), at: 56)                          // e_phnum
        case 7: put64(UInt64.random(in: 1 << 21 ... UInt64.max, using: &random), at: 32)                    // e_phoff past the file
        case 8: put64(UInt64.random(in: 1 << 40 ... 1 << 50, using: &random), at: 24)                       // e_entry in no segment
        default: bytes.removeLast(bytes.count - Int.random(in: 7...63, using: &random))                     // cut inside the header
        }
    }

    /// A random bad input: an image (half the time) or a bad option.
    func pick(_ random: inout SplitMix64) -> [String] {
        if Bool.random(using: &random) { return images[Int.random(in: 0..<images.count, using: &random)] }
        let junk = Self.junk(&random)
        let options: [[String]] = [
            ["--memory", junk], ["--memory", "\(UInt64.random(in: 0...(1 << 21) - 1, using: &random))"],
            ["--memory", "\(Int.random(in: 1...1_000_000, using: &random) * 4096 + 1)"], ["--memory", "\(Int.random(in: 100...999, using: &random))T"],
            ["--vcpus", "\(Int.random(in: 9...100_000, using: &random))"], ["--vcpus", "\(-Int.random(in: 0...9, using: &random))"], ["--vcpus", junk],
            ["--timeout", "\(-Double.random(in: 0...100, using: &random))"], ["--timeout", "\(Int.random(in: 86_401...10_000_000, using: &random))"],
            ["--timeout", junk], ["--platform", junk], ["--transport", junk], ["--kernel-order", junk, "--platform", "model"],
            ["--kernel-order", "correct", "--platform", "kvm"], ["--" + junk], ["--flat", junk, "file"], ["--flat", "0x40080000"],
            ["a", junk], ["--memory"], ["--vcpus"], ["--timeout", "--memory", "4M"],
        ]
        return options[Int.random(in: 0..<options.count, using: &random)]
    }

    /// A short string that is no size, count, duration, address, name or option value.
    static func junk(_ random: inout SplitMix64) -> String {
        let alphabet = Array("qxzjQXZJ%#@!~^&*=_")
        return "q" + String((0..<Int.random(in: 0...12, using: &random)).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &random)] })
    }
}
