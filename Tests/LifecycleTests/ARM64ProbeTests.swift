import Glibc
import KVM
@testable import Platforms
import Testing

/// The arm64 half of `pvmh probe`: kvm-arm.mode, the memlock budget and the
/// platform table, all from synthetic inputs.
@Suite("arm64 host probe")
struct ARM64ProbeTests {
    // MARK: kvm-arm.mode

    @Test("kvm-arm.mode from a kernel command line", arguments: [
        ("console=ttyAMA0 kvm-arm.mode=protected rdinit=/init panic=-1", "protected"),
        ("kvm-arm.mode=nvhe", "nvhe"),
        ("kvm-arm.mode=nvhe quiet kvm-arm.mode=protected", "protected"),
        ("kvm_arm.mode=protected", "protected"),
        ("kvm-arm.mode=\"protected\"", "protected"),
        ("root=/dev/vda1\tkvm-arm.mode=nested\n", "nested"),
        ("kvm-arm.mode=", ""),
    ])
    func commandLine(_ line: String, _ mode: String) {
        #expect(ARM64KVMMode.parse(commandLine: line) == mode)
    }

    @Test("command lines that do not set kvm-arm.mode", arguments: [
        "", "console=ttyAMA0 quiet", "kvm-arm.mode", "xkvm-arm.mode=protected", "kvm-arm.modes=protected",
        "quiet -- kvm-arm.mode=protected", "arm64_sw.hvhe=0 id_aa64mmfr1.vh=0",
    ])
    func commandLineWithoutMode(_ line: String) {
        #expect(ARM64KVMMode.parse(commandLine: line) == nil)
    }

    @Test("the module parameter file's text")
    func parameterFile() {
        #expect(ARM64KVMMode.parse(parameter: "protected\n") == "protected")
        #expect(ARM64KVMMode.parse(parameter: "  nvhe ") == "nvhe")
        #expect(ARM64KVMMode.parse(parameter: "\n") == nil)
    }

    @Test("the parameter file wins over the command line; neither means not set")
    func resolve() {
        let both = ARM64KVMMode.resolve(parameter: "protected\n", commandLine: "kvm-arm.mode=nvhe")
        #expect(both == ARM64KVMMode(value: "protected", source: .moduleParameter))
        #expect(both.isProtected)
        #expect(both.description == "protected (from /sys/module/kvm/parameters/mode)")
        let line = ARM64KVMMode.resolve(parameter: nil, commandLine: "kvm-arm.mode=nvhe")
        #expect(line == ARM64KVMMode(value: "nvhe", source: .commandLine))
        #expect(!line.isProtected)
        let none = ARM64KVMMode.resolve(parameter: "", commandLine: "quiet")
        #expect(none.value == nil && none.source == .notSet)
        #expect(none.description.contains("not protected"))
    }

    // MARK: memlock

    @Test("CAP_IPC_LOCK from /proc/self/status")
    func ipcLock() {
        #expect(MemlockBudget.hasCapability(14, inStatus: "Name:\tx\nCapEff:\t000001fffeffffff\n"))
        #expect(!MemlockBudget.hasCapability(14, inStatus: "CapEff:\t0000000000000000\n"))
        #expect(MemlockBudget.hasCapability(14, inStatus: "CapEff:\t0000000000004000"))
        #expect(!MemlockBudget.hasCapability(14, inStatus: "CapPrm:\t0000000000004000\n"))
        #expect(!MemlockBudget.hasCapability(14, inStatus: "CapEff:\tzz\n"))
    }

    @Test("too little RLIMIT_MEMLOCK is one sentence naming the need and `ulimit -l`")
    func memlockRefusal() throws {
        let budget = MemlockBudget(limit: 64 << 10, hasIPCLock: false)
        let text = try #require(budget.refusal(forGuestRAM: 4 << 20))
        #expect(text.contains("4 MiB of RAM needs 4096 KiB of locked memory"))
        #expect(text.contains("RLIMIT_MEMLOCK is 64 KiB"))
        #expect(text.contains("`ulimit -l 4096`"))
        #expect(!text.contains(". "), "one sentence")
        #expect(MemlockBudget(limit: 4 << 20, hasIPCLock: false).refusal(forGuestRAM: 4 << 20) == nil)
        #expect(MemlockBudget(limit: nil, hasIPCLock: false).refusal(forGuestRAM: 1 << 40) == nil)
        #expect(MemlockBudget(limit: 0, hasIPCLock: true).refusal(forGuestRAM: 4 << 20) == nil)
        #expect(MemlockBudget(limit: 8 << 20, hasIPCLock: false).description == "8 MiB")
        #expect(MemlockBudget(limit: nil, hasIPCLock: false).description == "unlimited")
        #expect(MemlockBudget(limit: 65536, hasIPCLock: true).description.contains("CAP_IPC_LOCK"))
    }

    // MARK: The platform table

    static func probe(protectedVM: ProbeOutcome, smccc: ProbeOutcome = .accepted, flags: GuestMemfdFlags = [.mmap, .initShared],
                      gmem: Int = 1, memlock: MemlockBudget = MemlockBudget(limit: nil, hasIPCLock: false),
                      kvmError: String? = nil) -> HostProbe {
        var probe = HostProbe(architecture: "aarch64", kernelRelease: "7.3.4")
        probe.kvmError = kvmError
        probe.capabilities = [
            .init(capability: .guestMemfd, value: gmem), .init(capability: .userMemory2, value: 1),
            .init(capability: .guestMemfdFlags, value: Int(flags.rawValue)),
        ]
        probe.guestMemfdFlags = flags
        probe.arm64 = ARM64HostFacts(mode: ARM64KVMMode(value: "protected", source: .commandLine), protectedVM: protectedVM,
                                     smcccFilter: smccc, guestMemfdFlags: flags, memlock: memlock)
        probe.platforms = ARM64PlatformCatalogue.availability(probe: probe)
        probe.choose()
        return probe
    }

    @Test("auto prefers the pKVM protected VM, then arm64 guest_memfd, then memfd")
    func order() {
        let both = Self.probe(protectedVM: .accepted)
        #expect(both.platforms.map(\.id) == ["arm64-pkvm", "arm64-gmem", "arm64-memfd"])
        #expect(both.platforms.map(\.backend) == [.memfd, .guestMemfd, .memfd])
        #expect(both.platforms.map(\.available) == [true, true, true])
        #expect(both.selected == "arm64-pkvm")
        let refused = Self.probe(protectedVM: .refused(operation: "KVM_CREATE_VM(KVM_VM_TYPE_ARM_PROTECTED)", errno: EINVAL))
        #expect(refused.selected == "arm64-gmem")
        let neither = Self.probe(protectedVM: .refused(operation: "KVM_CREATE_VM", errno: EINVAL),
                                 smccc: .refused(operation: "KVM_SET_DEVICE_ATTR(KVM_ARM_VM_SMCCC_FILTER)", errno: ENXIO))
        #expect(neither.selected == "arm64-gmem", "without the filter the doorbell carries the calls")
        #expect(neither.platforms[1].reason.contains("MMIO doorbell"))
        let old = Self.probe(protectedVM: .refused(operation: "KVM_CREATE_VM", errno: EINVAL),
                             smccc: .refused(operation: "KVM_SET_DEVICE_ATTR(KVM_ARM_VM_SMCCC_FILTER)", errno: ENXIO), gmem: 0)
        #expect(old.selected == "arm64-memfd", "a 6.1 board: memfd and the doorbell, never the model")
        let noKVM = Self.probe(protectedVM: .accepted, kvmError: "open(/dev/kvm) failed")
        #expect(noKVM.selected == nil, "only without KVM does the CLI fall back to the model")
    }

    @Test("each refusal says why, truthfully")
    func reasons() throws {
        let einval = Self.probe(protectedVM: .refused(operation: "KVM_CREATE_VM(KVM_VM_TYPE_ARM_PROTECTED)", errno: EINVAL))
        #expect(einval.platforms[0].reason.contains("Linux 7.1+ booted with kvm-arm.mode=protected"))
        let busy = Self.probe(protectedVM: .refused(operation: "KVM_CREATE_VM(KVM_VM_TYPE_ARM_PROTECTED)", errno: ENOMEM))
        #expect(busy.platforms[0].reason.contains("ENOMEM"))
        let noFilter = Self.probe(protectedVM: .accepted, smccc: .refused(operation: "KVM_SET_DEVICE_ATTR(KVM_ARM_VM_SMCCC_FILTER)", errno: ENXIO))
        #expect(noFilter.platforms[1].reason.contains("without the SMCCC filter"))
        #expect(noFilter.platforms[1].reason.contains("ENXIO"))
        #expect(noFilter.platforms[2].reason.contains("MMIO doorbell"))
        #expect(Self.probe(protectedVM: .accepted).platforms[2].reason.contains("SMCCC filter (Linux 6.4+)"))
        #expect(Self.probe(protectedVM: .accepted, flags: []).platforms[1].reason.contains("MMAP"))
        #expect(Self.probe(protectedVM: .accepted, gmem: 0).platforms[1].reason.contains("KVM_CAP_GUEST_MEMFD"))
        let noKVM = Self.probe(protectedVM: .accepted, kvmError: "open(/dev/kvm) failed")
        #expect(noKVM.platforms.allSatisfy { !$0.available && $0.reason.contains("/dev/kvm is not usable") })
    }

    @Test("an accepted protected VM with too little memlock stays available but says what to raise")
    func memlockNote() {
        let probe = Self.probe(protectedVM: .accepted, memlock: MemlockBudget(limit: 64 << 10, hasIPCLock: false))
        #expect(probe.platforms[0].available)
        #expect(probe.platforms[0].reason.contains("ulimit -l 4096"))
    }

    @Test("the facts' lines name the mode, say the probe taints the kernel, and list the filter and memlock")
    func factLines() throws {
        let facts = try #require(Self.probe(protectedVM: .accepted).arm64)
        let lines = Dictionary(uniqueKeysWithValues: facts.lines.map { ($0.name, $0.value) })
        #expect(lines["kvm-arm.mode"] == "protected (from /proc/cmdline)")
        #expect(lines["protected VMs"]?.contains("taints the kernel") == true)
        #expect(lines["SMCCC filter"] == "accepted")
        #expect(lines["guest_memfd flags (VM)"] == "MMAP|INIT_SHARED")
        #expect(lines["memlock limit"] == "unlimited")
        let refused = try #require(Self.probe(protectedVM: .refused(operation: "KVM_CREATE_VM", errno: EINVAL)).arm64)
        #expect(refused.lines[1].value == "KVM_CREATE_VM failed with EINVAL (Invalid argument)")
    }

    @Test("guest_memfd flags: MMAP always, INIT_SHARED where offered")
    func gmemFlags() {
        #expect(ARM64KVMPlatform.flags(offered: [.mmap, .initShared]) == [.mmap, .initShared])
        #expect(ARM64KVMPlatform.flags(offered: [.mmap]) == [.mmap])
    }
}
