import Glibc
import GuestImage
import KVM
import Lifecycle
import Ownership

/// How pKVM's vendor hypercalls reach the VMM on a non-protected arm64 VM.
public enum ARM64CallTransport: String, Sendable, CaseIterable {
    /// The SMCCC filter (Linux 6.4+) forwards them as `KVM_EXIT_HYPERCALL`.
    case smcccFilter = "smccc-filter"
    /// The harness doorbell (Docs/guests.md): the guest stores the call into
    /// MMIO registers and loads the answer, because before 6.4 an `hvc`
    /// never leaves the kernel.
    case mmioDoorbell = "mmio-doorbell"
}

/// arm64 KVM with a non-protected VM (the kernel does not isolate its
/// memory): guest RAM is a guest_memfd (`MMAP`, plus `INIT_SHARED` where
/// offered; Linux 6.18+, "arm64-gmem") or a memfd in a plain memslot (every
/// arm64 KVM, "arm64-memfd"). pKVM's vendor hypercalls (`0xC6000000`–`4`
/// and `KVM_FUNC_FEATURES`) reach the VMM through the SMCCC filter or, where
/// the kernel has none, the MMIO doorbell; the VMM answers them exactly as
/// pKVM's EL2 would (`ARM64VendorCalls`) with the ledger deciding
/// share/unshare. KVM reaches memory through one mapping; every VMM access
/// goes through a second one, the host view, whose private ranges are
/// `PROT_NONE`, so a host bug faults as it would under pKVM. PSCI stays with
/// KVM. Teardown is the safe order: punch holes → delete the memslot →
/// unmap and close → close the vCPUs and the VM.
// @unchecked: VM, memory and vCPUs are set up and torn down on the lifecycle thread
// while no vCPU runs (Platform's threading rule); vCPU threads share only
// `pending` and `detected`, which lock themselves.
public final class ARM64KVMPlatform: TwoViewKVMPlatform, Platform, @unchecked Sendable {
    public var guestABI: GuestABI { .arm64KVM }
    public let backend: RAMBackend
    public let transport: ARM64CallTransport

    private let cpus = ARM64VCPUs()
    private var ram = GuestRAM(size: 0)
    private var journal: Journal?
    private var gmemFlags: GuestMemfdFlags = [.mmap]
    /// Allocate all of guest memory at creation, so what teardown gives back
    /// is measurable (the regression suite sets it, as on x86_64).
    public var preallocate = false

    private let detected = FindingLog(event: "gmem.finding")
    /// Per vCPU: the MEM_SHARE/MEM_UNSHARE waiting for the ledger's answer.
    private let pending = PerVCPU<PendingCall>(empty: .none)

    private enum PendingCall {
        case none
        /// Answer in X0…X3 with ONE_REG.
        case filtered
        /// Answer by completing the guest's load of CALL.
        case doorbell(MMIOAccess)
    }

    /// `backend` nil: guest_memfd where offered, else a memfd; `transport`
    /// nil: the SMCCC filter where the kernel accepts it, else the doorbell.
    public init(system: KVMSystem, backend: RAMBackend? = nil, transport: ARM64CallTransport? = nil) {
        self.backend = backend ?? (((try? system.check(.guestMemfd)) ?? 0) > 0 ? .guestMemfd : .memfd)
        self.transport = transport ?? (ARM64HostFacts.smcccFilterAccepted(system) ? .smcccFilter : .mmioDoorbell)
        super.init(system: system)
    }

    public var description: PlatformDescription {
        PlatformDescription(
            id: "arm64-\(backend.rawValue)", name: "arm64 KVM + \(backend)",
            privateMemory: backend == .guestMemfd
                ? "guest_memfd \(gmemFlags), all private in the ledger at creation"
                : "memfd (shmem, MAP_SHARED) in a plain memslot, all private in the ledger at creation",
            transport: transport == .smcccFilter
                ? "SMCCC filter: pKVM's MEM_SHARE/MEM_UNSHARE as KVM_EXIT_HYPERCALL, arguments and results via ONE_REG"
                : "MMIO doorbell: the guest stores pKVM's vendor calls into the harness window and loads the answer (no SMCCC filter before Linux 6.4)",
            enforcement: "the VMM: private ranges of the host view are PROT_NONE (a non-protected VM: the kernel does not isolate it)",
            traits: PlatformTraits(flavour: .plainVM, memory: backend == .guestMemfd ? .guestMemfd : .memfd,
                                   transport: transport == .smcccFilter ? .smcccFilter : .mmioDoorbell))
    }

    /// Claims of the guest that the host view contradicts.
    public var findings: [Finding] { detected.all }

    /// The flags to create guest_memfd with: `MMAP` (arm64 refuses flags 0),
    /// and `INIT_SHARED` where `KVM_CAP_GUEST_MEMFD_FLAGS` offers it.
    public static func flags(offered: GuestMemfdFlags) -> GuestMemfdFlags {
        offered.contains(.initShared) ? [.mmap, .initShared] : [.mmap]
    }

    // MARK: Creation

    public func create(ram: GuestRAM, journal: Journal) throws(LifecycleError) {
        self.ram = ram
        self.journal = journal
        if backend == .guestMemfd, ((try? system.check(.guestMemfd)) ?? 0) == 0 {
            throw .platformUnavailable("this kernel has no guest_memfd (KVM_CAP_GUEST_MEMFD is 0; it needs Linux 6.18+ on arm64); use --memory-backend memfd, or --platform model")
        }
        let type = VMType(rawValue: UInt(VMType.armIPABits(toReach: ram.base + ram.size - 1)))
        let vm = try lifecycleError { () throws(KVMError) in try system.createVM(type: type) }
        self.vm = vm
        journal.record("create.vm", [("type", .string(type.description)), ("fd", .int(Int64(vm.fd.rawValue)))])

        let backing: TwoViewGuestRAM.Backing
        switch backend {
        case .guestMemfd:
            let offered = GuestMemfdFlags(rawValue: UInt64((try? vm.check(.guestMemfdFlags)) ?? 0))
            guard offered.contains(.mmap) else {
                throw .platformUnavailable("guest_memfd here accepts \(offered), but this platform needs MMAP (Linux 6.18+ on arm64); use --memory-backend memfd")
            }
            gmemFlags = ARM64KVMPlatform.flags(offered: offered)
            backing = .guestMemfd(gmemFlags)
        case .memfd:
            backing = .memfd(memslotsV2: ((try? vm.check(.userMemory2)) ?? 0) > 0)
        }
        if transport == .smcccFilter {
            // Every forwarded range before any vCPU exists: KVM refuses filters
            // once a vCPU has run (EBUSY).
            for filter in ARM64SMCCCFilter.pKVMVendorCalls {
                do {
                    try vm.setSMCCCFilter(filter)
                } catch {
                    throw .platformUnavailable("\(error); without the SMCCC filter pKVM's share/unshare calls cannot reach the VMM through hvc, so leave the transport to pvmh (it uses the MMIO doorbell) or use --platform model")
                }
            }
            journal.record("create.smccc-filter", [("forwarded", .array(ARM64SMCCCFilter.pKVMVendorCalls.map {
                .string("0x\(String($0.base, radix: 16, uppercase: true))+\($0.count)")
            }))])
        }

        let flags = gmemFlags
        let memory = try TwoViewGuestRAM(vm: vm, ram: ram, backing: backing, preallocate: preallocate) { kvmView throws(LifecycleError) in
            // Without INIT_SHARED a host fault may be SIGBUS; find out before
            // the loader writes through the mapping.
            if case .faulted(let signal, let code) = GuardedHostRead.probe(kvmView.address()) {
                throw .platformUnavailable("the host cannot touch guest_memfd created with \(flags) (a read faulted with signal \(signal), si_code \(code)); this platform needs INIT_SHARED (Linux 6.18+), or use --memory-backend memfd")
            }
        }
        self.memory = memory
        try memory.bind(to: vm)
        var fields: [(String, JSONValue)] = [("bytes", .uint(ram.size)), ("backend", .string(backend.rawValue))]
        if backend == .guestMemfd { fields.append(("gmem_flags", .string(gmemFlags.description))) }
        journal.record("create.memory", fields + [("slot", .int(0)), ("gpa", .uint(ram.base)), ("transport", .string(transport.rawValue))])
    }

    public func makeAllPrivate(_ ram: GuestRAM) throws(LifecycleError) -> String {
        guard let memory else { throw .invalidState("makeAllPrivate before create") }
        try memory.protectAll()
        return "host view PROT_NONE (arm64 has no KVM_SET_MEMORY_ATTRIBUTES; KVM still maps all of it for the guest)"
    }

    public func load(_ image: ELFImage) throws(LifecycleError) {
        guard let memory else { throw .invalidState("load before create") }
        try memory.load(image)
    }

    public func createVCPUs(count: Int, entry: UInt64) throws(LifecycleError) {
        guard let vm else { throw .invalidState("createVCPUs before create") }
        try VMResources.checkVCPULimit(count, vm: vm)
        let guestTransport: ARM64GuestProtocol.Transport = transport == .mmioDoorbell ? .mmioDoorbell : .hvc
        try lifecycleError { () throws(KVMError) in try cpus.create(on: vm, count: count, boot: ARM64BootState(entry: entry), transport: guestTransport) }
        pending.reset(count: count)
    }

    public var vcpuCount: Int { cpus.count }

    // MARK: Running

    public func requestStop(vcpu index: Int) {
        cpus.requestStop(index)
    }

    /// Sets vCPU `index`'s pending call and returns the one it replaces.
    private func setPending(_ value: PendingCall, vcpu index: Int) -> PendingCall {
        pending.exchange(index, value)
    }

    public func run(vcpu index: Int) -> GuestEvent {
        cpus.run(index, hypercall: { call, vcpu in
            forwarded(call, vcpu: vcpu, index: index)
        }, doorbell: { registers, access, vcpu in
            rang(registers, access: access, vcpu: vcpu, index: index)
        }, claim: { claim in
            // The VMM answered the call itself and the ledger applied it
            // then; the claim checks that the host view now agrees.
            let access = probeHostRead(gpa: claim.ipa)
            journal?.record("verify.claim", [("vcpu", .int(Int64(index))), ("claim", .string(claim.kind.rawValue)),
                                             ("ipa", .uint(claim.ipa)), ("host_access", .string(access.description))])
            if let finding = claim.verify(access) {
                detected.record(finding, journal: nil)  // verify.claim above already journals it
            }
            return nil
        }, failure: { error in
            .ioctl(error, error.errno == EIO
                ? "\(error): KVM refused guest_memfd memory (is this a protected VM? pKVM rejects guest_memfd there)" : nil)
        })
    }

    /// One forwarded SMCCC call: X1…X3 in, the decision, X0…X3 out. PC is
    /// already past the HVC, so writing the result is all that resumes it.
    private func forwarded(_ call: HypercallExit, vcpu: VCPU, index: Int) -> GuestEvent? {
        let arguments: [UInt64]
        do {
            arguments = try vcpu.registers([.x(1), .x(2), .x(3)])
        } catch {
            return .stopped(.failed(.ioctl(error, "reading the arguments of SMCCC call 0x\(String(call.nr, radix: 16)) failed: \(error)")))
        }
        let registers = SMCCCRegisters(call.nr, arguments[0], arguments[1], arguments[2])
        switch ARM64VendorCalls.decode(registers) {
        case .answer(let answer):
            journal?.record("hypercall", [("vcpu", .int(Int64(index))), ("function", .uint(call.nr)),
                                          ("in", .string(registers.description)), ("out", .string(answer.description))])
            if let failure = write(answer, to: vcpu) { return .stopped(.failed(failure)) }
            return nil
        case .memoryRequest(let request):
            _ = setPending(.filtered, vcpu: index)
            return .memoryRequest(request)
        }
    }

    /// One call through the MMIO doorbell: the answer (X0 only) completes
    /// the guest's load of CALL.
    private func rang(_ registers: SMCCCRegisters, access: MMIOAccess, vcpu: VCPU, index: Int) -> GuestEvent? {
        switch ARM64VendorCalls.decode(registers, transport: ARM64VendorCalls.doorbellTransport) {
        case .answer(let answer):
            journal?.record("hypercall", [("vcpu", .int(Int64(index))), ("function", .uint(registers.x0)),
                                          ("in", .string(registers.description)), ("out", .string(answer.description)),
                                          ("transport", .string(ARM64VendorCalls.doorbellTransport))])
            vcpu.completeMMIORead(access, value: answer.x0)
            return nil
        case .memoryRequest(let request):
            _ = setPending(.doorbell(access), vcpu: index)
            return .memoryRequest(request)
        }
    }

    private func write(_ answer: SMCCCRegisters, to vcpu: VCPU) -> VCPUFailure? {
        do {
            for (n, value) in answer.values.enumerated() { try vcpu.setRegister(.x(n), value) }
            return nil
        } catch {
            return .ioctl(error, "answering an SMCCC call failed: \(error)")
        }
    }

    public func complete(vcpu index: Int, reply: GuestReply) {
        let call = setPending(.none, vcpu: index)
        guard case .memoryResult(let result) = reply, index < cpus.count else { return }
        let answer = ARM64VendorCalls.answer(for: result)
        switch call {
        case .none:
            return
        case .doorbell(let access):
            cpus.vcpus[index].completeMMIORead(access, value: answer.x0)
        case .filtered:
            if let failure = write(answer, to: cpus.vcpus[index]) {
                // The vCPU would resume with the function id in X0; stop it instead.
                cpus.requestStop(index)
                journal?.record("error", [("vcpu", .int(Int64(index))), ("message", .string(failure.description))])
            }
        }
    }

    // MARK: Enforcement

    public func reflect(_ operation: MemoryRequest.Operation, _ range: GFNRange) throws(LifecycleError) {
        guard let memory else { throw .invalidState("reflect before create") }
        try memory.reflect(operation, range)
    }

    // Host reads, probes, the zero check and the observation: TwoViewKVMPlatform.

    // MARK: Teardown

    public func reclaim(_ reclaim: Reclaim) throws(LifecycleError) {
        try memory?.reclaim(formerlyPrivate: reclaim.formerlyPrivate)
    }

    // unbind and release: TwoViewKVMPlatform.

    public func destroy() throws(LifecycleError) {
        defer { vm = nil }
        try VMResources.destroy(system: system, vm: vm, vcpuErrors: cpus.close())
    }

    public var openResources: [String] {
        VMResources.open(system: system, vm: vm, memory: memory?.openResources ?? [], vcpus: cpus.vcpus)
    }
}
