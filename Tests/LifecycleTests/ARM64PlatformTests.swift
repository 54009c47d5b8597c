import Glibc
import GuestImage
import KVM
import Lifecycle
import Ownership
@testable import Platforms
import Testing

/// The parts of the arm64 KVM platforms that run on any host: their guest
/// memory, the exit policy, and how they fail where the kernel lacks them.
@Suite("arm64 KVM platforms without arm64 hardware")
struct ARM64PlatformTests {
    // MARK: Guest memory for protected VMs

    @Test("protected-VM guest RAM is a MAP_SHARED memfd the host can read through a guarded probe")
    func guestMemory() throws {
        let memory = try ARM64GuestMemory(size: 16 << 12)
        #expect(memory.backing == "memfd", "memfd_create is found in a dynamically linked test binary")
        #expect(memory.openResources == ["guest RAM (memfd)", "memfd (guest RAM)"])
        memory.write([0x68, 0x69], at: 4096)
        #expect(memory.probe(offset: 4096) == .readable(0x68))
        #expect(memory.probe(offset: 4097) == .readable(0x69))
        #expect(memory.probe(offset: 16 << 12) == .unmapped)
        try memory.release()
        #expect(memory.openResources.isEmpty)
        #expect(memory.probe(offset: 0) == .unmapped)
        try memory.release()  // releasing twice is a no-op, not an error
    }

    @Test("a page the host may not touch faults with SIGSEGV/SEGV_ACCERR, and the VMM survives")
    func guardedProbeOfAProtectedPage() throws {
        let memory = try ARM64GuestMemory(size: 4 << 12)
        defer { try? memory.release() }
        // PROT_NONE stands in for a page pKVM gave the guest: same signal, same si_code.
        try memory.mapping.protect(offset: 8192, length: 4096, .none)
        #expect(memory.probe(offset: 8192) == .faulted(signal: SIGSEGV, code: Int32(SEGV_ACCERR)))
        #expect(memory.probe(offset: 4096) == .readable(0))
        let claim = ARM64OwnershipClaim(kind: .unshared, ipa: 0x4000_2000)
        #expect(claim.verify(memory.probe(offset: 8192)) == nil)
        #expect(claim.verify(memory.probe(offset: 4096)) != nil)
    }

    /// MADV_DONTFORK: a child (the x86 platform's probe forks one) inherits
    /// no guest memory, so fork can never copy pinned guest pages.
    @Test("guest RAM is not mapped in a forked child (MADV_DONTFORK)")
    func notInheritedByFork() throws {
        let memory = try ARM64GuestMemory(size: 4 << 12)
        defer { try? memory.release() }
        memory.write([7], at: 0)
        #expect(GuardedRead.inChild(memory.mapping.address()) == .faulted(signal: SIGSEGV, code: Int32(SEGV_MAPERR)),
                "the child has no mapping at all, not a protected one")
        #expect(memory.probe(offset: 0) == .readable(7))
    }

    // MARK: Exit policy

    @Test("PSCI system events: SYSTEM_OFF stops in order, RESET is reported, CRASH fails")
    func systemEvents() {
        func action(_ kind: SystemEvent.Kind) -> ARM64ExitAction {
            ARM64ExitPolicy.action(for: .systemEvent(SystemEvent(type: kind, data: [0])), stopRequested: false)
        }
        #expect(action(.shutdown) == .stop(.poweredOff))
        #expect(action(.reset) == .stop(.reset))
        guard case .stop(.failed(let crash)) = action(.crash) else { Issue.record("CRASH must fail the run"); return }
        #expect(crash.kind == .guestCrash)
        #expect(crash.description.contains("crash"))
        guard case .stop(.failed(let other)) = action(SystemEvent.Kind(rawValue: 9)) else { Issue.record("unknown event"); return }
        #expect(other.description.contains("system event 9"))
    }

    @Test("MMIO, hypercalls and signals")
    func otherExits() {
        let store = MMIOAccess(address: 0x0900_0000, length: 4, isWrite: true, data: [0x41, 0, 0, 0])
        #expect(ARM64ExitPolicy.action(for: .mmio(store), stopRequested: false) == .mmioWrite(address: 0x0900_0000, value: 0x41))
        let load = MMIOAccess(address: 0x0900_0018, length: 4, isWrite: false, data: [])
        #expect(ARM64ExitPolicy.action(for: .mmio(load), stopRequested: false) == .mmioRead(load))
        let call = HypercallExit(nr: 0xC600_0003, args: [0, 0, 0, 0, 0, 0], flags: 0)
        #expect(ARM64ExitPolicy.action(for: .hypercall(call), stopRequested: false) == .hypercall(call))
        #expect(ARM64ExitPolicy.action(for: .interrupted, stopRequested: false) == .resume)
        #expect(ARM64ExitPolicy.action(for: .interrupted, stopRequested: true) == .stop(.stopRequested))
        #expect(ARM64ExitPolicy.action(for: .shutdown, stopRequested: false) == .stop(.shutdown))
    }

    @Test("exits arm64 cannot handle fail with a reason", arguments: [
        (VCPUExit.unhandled(.armNISV), "single-register"),
        (VCPUExit.unsupported(reason: "unknown exit reason 999"), "999"),
        (.io(PortIO(direction: .out, size: 1, port: 0x3F8, count: 1, dataOffset: 0, data: [0])), "no port I/O"),
        (.memoryFault(MemoryFaultExit(flags: 8, gpa: 0x4000_0000, size: 4096)), "private access"),
        (.internalError(suberror: 1, data: []), "KVM_EXIT_INTERNAL_ERROR"),
        (.failEntry(reason: 0x10, cpu: 1), "KVM_EXIT_FAIL_ENTRY"),
    ])
    func failures(_ exit: VCPUExit, _ phrase: String) {
        guard case .stop(.failed(let why)) = ARM64ExitPolicy.action(for: exit, stopRequested: false) else {
            Issue.record("\(exit) must stop the vCPU with a failure")
            return
        }
        #expect(why.description.contains(phrase))
    }

    @Test("an access where nothing is mapped names the address")
    func noDevice() {
        #expect(ARM64ExitPolicy.noDevice(address: 0x1000, isWrite: true, length: 8)
                == .failed(VCPUFailure(.unmappedAccess(gpa: 0x1000), "the guest wrote 8 bytes at gpa 0x1000, where there is neither RAM nor a device (KVM_EXIT_MMIO)")))
    }

    @Test("KVM_RUN failures on a protected VM say what they mean", arguments: [
        (EIO, "never guest_memfd"), (EFAULT, "poisoned"), (ENOMEM, "ulimit -l"),
    ])
    func runFailures(_ errno: Int32, _ phrase: String) {
        let text = ARM64ProtectedPlatform.runFailure(KVMError("KVM_RUN", errno: errno))
        #expect(text.hasPrefix("KVM_RUN failed"))
        #expect(text.contains(phrase))
    }

    @Test("a refused protected VM names the ioctl, the errno, the mode and what to do")
    func createFailure() {
        let mode = ARM64KVMMode(value: "nvhe", source: .commandLine)
        let text = ARM64ProtectedPlatform.createVMFailure(
            KVMError("KVM_CREATE_VM(KVM_VM_TYPE_ARM_PROTECTED)", errno: EINVAL), mode: mode)
        #expect(text == "KVM_CREATE_VM(KVM_VM_TYPE_ARM_PROTECTED) failed with EINVAL: this kernel does not accept protected VMs (it was booted with kvm-arm.mode=nvhe, per /proc/cmdline); boot Linux 7.1 or newer with kvm-arm.mode=protected, or run the guest with --platform model")
        let unset = ARM64ProtectedPlatform.createVMFailure(
            KVMError("KVM_CREATE_VM(KVM_VM_TYPE_ARM_PROTECTED)", errno: EINVAL), mode: ARM64KVMMode(value: nil, source: .notSet))
        #expect(unset.contains("(it was booted without kvm-arm.mode)"))
    }
}

/// The arm64 platforms on this host's real KVM. On an x86 host every arm64
/// feature is refused, which is exactly what these check: one clear sentence,
/// and nothing left open.
@Suite("arm64 KVM platforms refuse cleanly where the kernel lacks them",
       .enabled(if: KVMGate.enabled, "needs read/write /dev/kvm (PVMH_REQUIRE_KVM=1 makes this a failure)"), .serialized)
struct ARM64PlatformRefusalTests {
    let ram = GuestRAM(base: ARM64GuestProtocol.ramBase, size: 4 << 20)

    @Test("too little RLIMIT_MEMLOCK is refused before any VM exists")
    func memlock() throws {
        let platform = ARM64ProtectedPlatform(system: try KVMSystem(path: KVMGate.path),
                                              memlock: MemlockBudget(limit: 64 << 10, hasIPCLock: false))
        let error = #expect(throws: LifecycleError.self) { try platform.create(ram: ram, journal: try Journal()) }
        guard case .platformUnavailable(let text) = error else { Issue.record("\(String(describing: error))"); return }
        #expect(text.contains("`ulimit -l 4096`"))
        #expect(platform.openResources == ["/dev/kvm"])
        try platform.destroy()
        #expect(platform.openResources.isEmpty)
    }

    #if arch(x86_64)
    @Test("the pKVM platform on a kernel without protected VMs: the whole lifecycle fails in one sentence and tears down")
    func protectedLifecycle() throws {
        let demo = try #require(BuiltinGuest.named("arm64-demo"))
        let platform = ARM64ProtectedPlatform(system: try KVMSystem(path: KVMGate.path),
                                              memlock: MemlockBudget(limit: nil, hasIPCLock: false))
        let journal = try Journal()
        let lifecycle = ProtectedVMLifecycle(platform: platform, journal: journal,
                                             options: RunOptions(ram: ram, timeoutSeconds: 5, auditDescriptors: false),
                                             guestName: demo.name)
        let report = lifecycle.run(image: try demo.image())
        guard case .platformUnavailable(let text)? = report.error else { Issue.record("\(String(describing: report.error))"); return }
        #expect(text.hasPrefix("KVM_CREATE_VM(KVM_VM_TYPE_ARM_PROTECTED) failed with EINVAL"))
        #expect(text.contains("kvm-arm.mode=protected"))
        #expect(report.teardown.map(\.step) == TeardownPlan.safe.steps)
        #expect(report.teardown.allSatisfy { $0.error == nil }, "\(report.teardown.compactMap(\.error))")
        #expect(platform.openResources.isEmpty)
        #expect(!report.passed)
    }

    @Test("the arm64 guest_memfd platform without an SMCCC filter refuses and cleans up")
    func guestMemfdWithoutFilter() throws {
        let platform = ARM64KVMPlatform(system: try KVMSystem(path: KVMGate.path), backend: .guestMemfd, transport: .smcccFilter)
        let error = #expect(throws: LifecycleError.self) { try platform.create(ram: ram, journal: try Journal()) }
        guard case .platformUnavailable(let text) = error else { Issue.record("\(String(describing: error))"); return }
        #expect(text.contains("KVM_SET_DEVICE_ATTR(KVM_ARM_VM_SMCCC_FILTER 0xC6000000+5)") || text.contains("guest_memfd"), "\(text)")
        #expect(text.contains("--platform model"))
        try platform.destroy()
        #expect(platform.openResources.isEmpty)
    }

    @Test("the arm64 guest_memfd platform through the whole lifecycle: refused, torn down without errors")
    func guestMemfdLifecycle() throws {
        let demo = try #require(BuiltinGuest.named("arm64-demo"))
        let platform = ARM64KVMPlatform(system: try KVMSystem(path: KVMGate.path), backend: .guestMemfd, transport: .smcccFilter)
        let lifecycle = ProtectedVMLifecycle(platform: platform, journal: try Journal(),
                                             options: RunOptions(ram: ram, timeoutSeconds: 5, auditDescriptors: false),
                                             guestName: demo.name)
        let report = lifecycle.run(image: try demo.image())
        guard case .platformUnavailable? = report.error else { Issue.record("\(String(describing: report.error))"); return }
        #expect(report.teardown.map(\.step) == TeardownPlan.safe.steps)
        #expect(report.teardown.allSatisfy { $0.error == nil }, "\(report.teardown.compactMap(\.error))")
        #expect(platform.openResources.isEmpty)
    }

    @Test("the arm64 memfd platform with the doorbell on x86: refused at the vCPUs, torn down without errors")
    func memfdDoorbellLifecycle() throws {
        let demo = try #require(BuiltinGuest.named("arm64-demo"))
        let platform = ARM64KVMPlatform(system: try KVMSystem(path: KVMGate.path), backend: .memfd, transport: .mmioDoorbell)
        #expect(platform.description.id == "arm64-memfd")
        #expect(platform.description.transport.contains("MMIO doorbell"))
        let lifecycle = ProtectedVMLifecycle(platform: platform, journal: try Journal(),
                                             options: RunOptions(ram: ram, timeoutSeconds: 5, auditDescriptors: false),
                                             guestName: demo.name)
        let report = lifecycle.run(image: try demo.image())
        #expect(report.error != nil, "an x86 KVM has no arm64 vCPUs")
        #expect(report.teardown.map(\.step) == TeardownPlan.safe.steps)
        #expect(report.teardown.allSatisfy { $0.error == nil }, "\(report.teardown.compactMap(\.error))")
        #expect(platform.openResources.isEmpty)
        #expect(!report.passed)
    }

    @Test("gathering the arm64 facts on x86: both probes refused, both platforms unavailable")
    func factsOnX86() throws {
        let facts = ARM64HostFacts.gather(system: try KVMSystem(path: KVMGate.path),
                                          mode: ARM64KVMMode(value: nil, source: .notSet),
                                          memlock: MemlockBudget(limit: nil, hasIPCLock: true))
        #expect(facts.protectedVM == .refused(operation: "KVM_CREATE_VM(KVM_VM_TYPE_ARM_PROTECTED)", errno: EINVAL))
        #expect(!facts.smcccFilter.isAccepted)
        var probe = HostProbe(architecture: "x86_64", kernelRelease: "test")
        probe.arm64 = facts
        let rows = ARM64PlatformCatalogue.availability(probe: probe)
        #expect(rows.prefix(2).allSatisfy { !$0.available })
        #expect(rows[2].id == "arm64-memfd" && rows[2].reason.contains("MMIO doorbell"), "\(rows[2].reason)")
    }
    #endif
}
