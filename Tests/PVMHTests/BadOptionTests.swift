import Glibc
import GuestImage
import PVMHTestSupport
@testable import PVMHCommand
import Testing

/// Every bad option is exit 2 with one sentence that gives the valid range,
/// and nothing starts: no "pvmh: platform" line and no journal file (the
/// journal is opened only once the options are valid, and the VM after it).
@Suite("bad options are refused before any VM exists")
struct BadOptionTests {
    /// Arguments and a phrase the one error line must contain.
    static let cases: [([String], String)] = [
        (["--memory", "0"], "--memory 0 is out of range; use a size such as 4M, 64MiB or 1G between 2 MiB and "),
        (["--memory", "1.5G"], "--memory 1.5G is not a size; use a size such as 4M, 64MiB or 1G between 2 MiB and "),
        (["--memory", "2097153"], "is not a multiple of the 4096-byte page size"),
        (["--memory", "99999T"], "--memory 99999T is out of range"),
        (["--vcpus", "0"], "--vcpus 0 is not a vCPU count; give a whole number from 1 to 8"),
        (["--vcpus", "-1"], "--vcpus -1 is not a vCPU count; give a whole number from 1 to 8"),
        (["--vcpus", "abc"], "--vcpus abc is not a vCPU count; give a whole number from 1 to 8"),
        (["--vcpus", "9", "--platform", "model"], "--vcpus 9 is not a vCPU count; give a whole number from 1 to 8"),
        (["--vcpus", "1e3"], "--vcpus 1e3 is not a vCPU count"),
        (["--timeout", "0"], "--timeout 0 is not a duration; give seconds between 0.001 and 86400"),
        (["--timeout", "nan"], "--timeout nan is not a duration; give seconds between 0.001 and 86400"),
        (["--seed", "-1"], "--seed -1 is not a seed; give a whole number from 0 to 18446744073709551615"),
        (["--seed", "18446744073709551616"], "--seed 18446744073709551616 is not a seed"),
        (["--platform", "qemu"], "--platform qemu is not a platform; use auto, kvm or model"),
        (["--transport", "mmio"], "--transport mmio is not a transport; use auto, vmcall or doorbell"),
        (["--memory-backend", "shm"], "--memory-backend shm is not a backend; use gmem (guest_memfd) or memfd"),
        (["--memory-backend", "memfd", "--platform", "model"], "--memory-backend applies to the KVM platforms; the pKVM model has memory of its own"),
        (["--kernel-order", "random", "--platform", "model"], "--kernel-order random is not an order; use correct or unbind-before-reclaim"),
        (["--kernel-order", "correct", "--platform", "kvm"], "--kernel-order applies to the model only"),
        (["--model-pkvm", "pixel", "--platform", "model"], "--model-pkvm pixel is not a pKVM the model knows; use upstream or android"),
        (["--model-pkvm", "android"], "--model-pkvm applies to the model only"),
        (["--firmware", "/nonexistent/pvmfw.bin"], "--firmware /nonexistent/pvmfw.bin cannot be read (No such file or directory)"),
        (["--firmware", "/dev/null"], "--firmware /dev/null is empty; give a pvmfw-style flat image of at most 4 MiB, device or none"),
        (["--firmware", "device", "--platform", "model"], "--firmware needs Android's pKVM; on the model add --platform model --model-pkvm android"),
        (["no-such-guest"], "cannot read guest no-such-guest: no such file and no built-in guest of that name (built-in: \(BuiltinGuest.all.map(\.name).joined(separator: ", ")); `pvmh guest list`)"),
        (["arm64-demo", "--platform", "kvm"], "guest arm64-demo is for aarch64, but KVM on this host runs"),
        (["x86_64-demo", "--platform", "model"], "guest x86_64-demo is for x86_64, but the pKVM model runs aarch64 guests"),
        (["--flat", "0x40080000", "--platform", "model"], "--flat needs the FILE to load; use `pvmh run --flat ADDRESS FILE`"),
        (["--flat", "zz", "x"], "--flat zz is not an address; give a guest physical address from 0 to 0xffffffffffffffff"),
        (["--flat", "0x1ffffffffffffffff", "x"], "is not an address"),
        (["--frobnicate"], "unknown option --frobnicate for `pvmh run`"),
        (["a", "b"], "`pvmh run` takes at most 1 argument, got a b"),
        (["--journal", "/nonexistent-dir/j.jsonl", "--platform", "model"], "cannot open journal file /nonexistent-dir/j.jsonl: No such file or directory; choose a writable path for --journal"),
        (["--trace", "/nonexistent-dir/t.json", "--platform", "model"], "cannot open trace file /nonexistent-dir/t.json: No such file or directory; choose a writable path for --trace"),
        (["--map", "/nonexistent-dir/m.svg", "--platform", "model"], "cannot open map file /nonexistent-dir/m.svg: No such file or directory; choose a writable path for --map"),
        (["--map", "/tmp", "--platform", "model"], "cannot open map file /tmp: Is a directory; choose a writable path for --map"),
        (["--trace", "/dev/null", "--platform", "model"], "cannot open trace file /dev/null: it is not a regular file; choose a writable path for --trace"),
    ]

    @Test("exit 2, one sentence with the valid range, nothing started", arguments: cases)
    func refused(_ arguments: [String], _ phrase: String) throws {
        let directory = try TemporaryDirectory()
        let journal = directory.file("journal.jsonl")
        let withJournal = arguments.contains("--journal") ? arguments : arguments + ["--journal", journal]
        let result = pvmh(["run"] + withJournal + ["--kvm", "/nonexistent/kvm"])
        #expect(result.status == 2, "\(result.err)")
        #expect(result.out.isEmpty, "nothing may start: \(result.out)")
        #expect(result.errLines.count == 1, "\(result.err)")
        let line = String(result.errLines.first ?? "")
        #expect(line.hasPrefix("pvmh: "))
        #expect(line.contains(phrase), "\(line)")
        #expect(isOneSentence(line), "\(line)")
        #expect(readFile(journal) == nil, "the journal is opened only once the options are valid")
    }

    @Test("--vcpus outside 1...8 names the range, on every platform")
    func vcpusAbovePlatformLimit() {
        for platform in ["model", "kvm"] {
            for count in ["0", "9", "-1", "99999999999999999999"] {
                let result = pvmh("run", "--vcpus", count, "--platform", platform, "--kvm", "/nonexistent/kvm")
                #expect(result.status == 2)
                #expect(result.out.isEmpty)
                #expect(result.err == "pvmh: --vcpus \(count) is not a vCPU count; give a whole number from 1 to 8 (pvmh runs up to 8 on every platform)\n")
            }
        }
    }

    @Test("the single-processor x86_64 demo is refused on several vCPUs, before any VM exists")
    func singleProcessorGuestOnSeveralVCPUs() {
        #if arch(x86_64)
        let kvm = pvmh("run", "x86_64-demo", "--vcpus", "2", "--platform", "kvm", "--kvm", "/nonexistent/kvm")
        #expect(kvm.status == 2)
        #expect(kvm.out.isEmpty)
        #expect(kvm.err == "pvmh: guest x86_64-demo is single-processor, and every x86_64 vCPU starts at its entry, so --vcpus 2 would run it 2 times over; use --vcpus 1, or x86_64-stress for several vCPUs\n")
        #endif
    }

    @Test("--rounds: a count that overflows, or a guest that takes none, is one sentence and exit 2")
    func roundsRefused() {
        let overflow = pvmh("run", "arm64-stress", "--platform", "model", "--rounds", "18446744073709551616")
        #expect(overflow.status == 2)
        #expect(overflow.err == "pvmh: --rounds 18446744073709551616 is not a round count; give a whole number from 0 (until stopped) to 18446744073709551615\n")
        let notStress = pvmh("run", "arm64-demo", "--platform", "model", "--rounds", "5")
        #expect(notStress.status == 2)
        #expect(notStress.err == "pvmh: --rounds applies to the stress guests only (x86_64-stress, arm64-stress); arm64-demo takes none\n")
    }

    @Test("a stress guest gets the run's seed, rounds, RAM and vCPUs written into its image")
    func stressParametersReachTheImage() throws {
        let options = try RunCommand.parse(["arm64-stress", "--platform", "model", "--vcpus", "3", "--memory", "16M",
                                            "--rounds", "0", "--seed", "42"])
        #expect(options.stress == StressParameters(seed: 42, rounds: 0, ramBase: 0x4000_0000, ramSize: 16 << 20, vcpus: 3))
        #expect(options.timeout == 34, "a stress guest's default timeout grows by 1 s per 4 MiB")
        #expect(options.image != (try BuiltinGuest.named("arm64-stress")!.image()))
        #expect(try RunCommand.parse(["arm64-demo", "--platform", "model"]).stress == nil)
    }

    @Test("--vcpus within range parses", arguments: [("1", 1), ("4", 4), ("8", 8)])
    func vcpusAccepted(_ text: String, _ count: Int) throws {
        #expect(try RunCommand.parse(["--platform", "model", "--vcpus", text]).vcpus == count)
    }

    @Test("--memory of 4 GiB or more is refused on x86_64 KVM, whose guests get the size in ESI")
    func x86MemoryLimit() throws {
        #if arch(x86_64)
        guard RunCommand.maximumMemory() >= 4 << 30 else {
            // The host limit speaks first on a smaller machine.
            #expect(pvmh("run", "--memory", "4G", "--platform", "kvm").status == 2)
            return
        }
        let result = pvmh("run", "--memory", "4G", "--platform", "kvm", "--kvm", "/nonexistent/kvm")
        #expect(result.status == 2)
        #expect(result.out.isEmpty)
        #expect(result.err == "pvmh: --memory 4G is more than this platform can give its guests (x86_64 guests get the RAM size in the 32-bit ESI register); use a size between 2 MiB and 4095 MiB\n")
        #expect(try RunCommand.parse(["--platform", "kvm", "--memory", "4095M"]).memory == 4095 << 20)
        #expect(try RunCommand.parse(["--platform", "model", "--memory", "4G"]).memory == 4 << 30, "the model has no such limit")
        #endif
    }

    @Test("--flat loads raw code at the address, for the platform's architecture")
    func flatAccepted() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("code.bin", a64([0xD503_201F, 0x1400_0000]))
        let options = try RunCommand.parse(["--platform", "model", "--flat", "0x40080000", path])
        #expect(options.image.machine == .aarch64)
        #expect(options.image.entry == 0x4008_0000)
        #expect(options.flatAddress == 0x4008_0000)
        #expect(options.image.segments.map(\.fileBytes) == [a64([0xD503_201F, 0x1400_0000])])
        let decimal = try RunCommand.parse(["--platform=model", "--flat=1074266112", path])
        #expect(decimal.image.entry == 0x4008_0000)
    }

    /// The flat-binary rules, through the CLI: phrase expected for each.
    static let flatCases: [(String, [UInt8], String)] = [
        ("0x09000000", [0, 0, 0, 0], "does not fit this VM: segment 0 of the guest image (0x9000000-0x9000004) overlaps the MMIO region 0x9000000-0x9001000"),
        ("0x0a003e00", [0, 0, 0, 0], "overlaps the MMIO region 0xa003e00-0xa004000"),
        ("0x40400000", [0, 0, 0, 0], "is not inside guest RAM (0x400000 bytes at 0x40000000)"),
        ("0x1000", [0, 0, 0, 0], "is not inside guest RAM"),
        ("0x40080002", [0, 0, 0, 0], "the guest image's entry point 0x40080002 is not 4-byte aligned"),
        ("0xfffffffffffffffe", [0, 0, 0, 0], "runs past the end of the 64-bit address space"),
        ("0x40080000", [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1], "is an ELF file, whose headers would run as code; drop --flat"),
        ("0x40080000", [], "is empty; give a file of raw guest code"),
    ]

    @Test("--flat with a bad address or file is exit 2 before any VM", arguments: flatCases)
    func flatRefused(_ address: String, _ bytes: [UInt8], _ phrase: String) throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("code.bin", bytes)
        let journal = directory.file("j.jsonl")
        let result = pvmh("run", "--platform", "model", "--flat", address, path, "--journal", journal)
        #expect(result.status == 2)
        #expect(result.out.isEmpty)
        #expect(result.errLines.count == 1)
        #expect(result.err.contains(phrase), "\(result.err)")
        #expect(result.err.contains(path))
        #expect(readFile(journal) == nil)
    }
}
