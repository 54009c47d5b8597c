import Glibc
import GuestImage
import KVM
import Lifecycle
import Ownership

/// "arm64 pKVM protected VM": a `KVM_VM_TYPE_ARM_PROTECTED` VM whose RAM is a
/// `MAP_SHARED` memfd in an ordinary memslot. pKVM donates each page to the
/// guest on its first stage-2 fault and handles MEM_SHARE/MEM_UNSHARE at EL2
/// without telling the VMM, so the ledger learns of them from the guest's
/// SHARED/UNSHARED reports and the platform verifies each claim by probing
/// host access in-process (SIGSEGV/SEGV_ACCERR on a private page).
///
/// Teardown maps onto the protocol as the kernel allows (Docs/kvm-abi.md,
/// "arm64" and "pKVM page ownership"): memslots cannot be deleted after the first run
/// (EPERM), so *reclaim* closes the vCPUs and the VM — the kernel reclaims,
/// zeroing guest-owned pages — *unbind* has nothing left to do, *release*
/// unmaps and closes the memfd and *destroy* closes /dev/kvm.
// @unchecked: VM, memory and vCPUs are set up and torn down on the lifecycle thread
// while no vCPU runs (Platform's threading rule); vCPU threads share only
// `pendingClaims` and `detected`, which lock themselves.
public final class ARM64ProtectedPlatform: Platform, @unchecked Sendable {
    public var guestABI: GuestABI { .arm64KVM }

    private let system: KVMSystem
    private let memlock: MemlockBudget
    /// `--firmware`, and what the kernel said about it at creation.
    private let firmwareChoice: FirmwareChoice
    private var firmware: AndroidFirmware?
    private var firmwareBoot: FirmwareBoot?
    private var vm: VirtualMachine?
    private var memory: ARM64GuestMemory?
    private let cpus = ARM64VCPUs()
    private var ram = GuestRAM(size: 0)
    private var journal: Journal?
    /// The claim each vCPU is waiting on the ledger for.
    private let pendingClaims = PerVCPU<ARM64OwnershipClaim?>(empty: nil)
    private let detected = FindingLog(event: "pkvm.finding")

    /// The platform's id, as `pvmh probe` lists it: the one platform
    /// `--firmware` applies to.
    public static let platformID = "arm64-pkvm"

    /// How the journal names a claim that reached the ledger.
    static let transport = "harness report (EL2 handled the HVC)"

    /// Allocate every page of the memfd at creation, so the memory a VM holds
    /// (and gives back) shows in `Shmem` even though pKVM pins only the pages
    /// the guest touches. The regression suite sets it; `run` does not.
    public var preallocate = false
    /// Memslot 0, for the one caller that must try to delete it (a
    /// regression check: the kernel must refuse once the VM has run).
    private var slot: MemorySlot?
    /// Whether the kernel has `KVM_SET_USER_MEMORY_REGION2` (Linux 6.8+).
    private var memslotsV2 = true
    /// Formerly private pages a host read still reached just before
    /// reclaim: pKVM donates lazily, so these were never the guest's.
    private var neverDonated = Set<UInt64>()

    public init(system: KVMSystem, memlock: MemlockBudget = .current(), firmware: FirmwareChoice = .none) {
        self.system = system
        self.memlock = memlock
        firmwareChoice = firmware
    }

    public var description: PlatformDescription {
        PlatformDescription(
            id: Self.platformID, name: "arm64 pKVM protected VM",
            privateMemory: "MAP_SHARED memfd in an ordinary memslot, donated to the guest by pKVM on its first fault",
            transport: "none reaches the VMM (EL2 handles MEM_SHARE/MEM_UNSHARE); the guest reports each on the harness window and the VMM verifies it by probing host access",
            enforcement: "the hypervisor (pKVM's stage-2)",
            traits: PlatformTraits(flavour: .protectedVM, memory: .memfd, transport: .hypervisorHandled))
    }

    public var findings: [Finding] { detected.all }

    private func find(_ finding: Finding, _ fields: [(String, JSONValue)]) {
        detected.record(finding, fields, journal: journal)
    }

    // MARK: Creation

    public func create(ram: GuestRAM, journal: Journal) throws(LifecycleError) {
        guard ram.base % ram.pageSize == 0, ram.size % ram.pageSize == 0, ram.size > 0 else {
            throw .badInput("guest RAM must be page aligned and non-empty")
        }
        self.ram = ram
        self.journal = journal
        if let refusal = memlock.refusal(forGuestRAM: ram.size) { throw .platformUnavailable(refusal) }

        let ipaBits = VMType.armIPABits(toReach: ram.base + ram.size - 1)
        let type = VMType.armProtected(ipaBits: ipaBits)
        do {
            vm = try system.createVM(type: type)
        } catch {
            throw .platformUnavailable(ARM64ProtectedPlatform.createVMFailure(error, mode: ARM64KVMMode.current()))
        }
        guard let vm else { return }
        journal.record("create.vm", [("type", "KVM_VM_TYPE_ARM_PROTECTED"), ("raw_type", .uint(UInt64(type.rawValue))),
                                     ("fd", .int(Int64(vm.fd.rawValue))), ("taints_kernel", .bool(true))])
        // Android's capability answers on the VM fd (upstream's does not):
        // which pKVM this is, and whether --firmware can be honoured.
        do {
            let firmware = try AndroidFirmware.begin(firmwareChoice, vm: vm)
            self.firmware = firmware
            journal.record("create.pkvm", firmware.fields)
        } catch {
            throw .platformUnavailable(error.description)
        }

        let memory = try lifecycleError { () throws(KVMError) in try ARM64GuestMemory(size: ram.size, preallocate: preallocate) }
        self.memory = memory
        let slot = MemorySlot(slot: 0, flags: [], guestPhysicalAddress: ram.base, size: ram.size,
                              userspaceAddress: UInt64(UInt(bitPattern: memory.mapping.address())))
        // Android's 6.1 and 6.6 kernels predate memslots v2 (Linux 6.8); the
        // memfd needs nothing v2 adds, so such kernels get the original call.
        let memslotsV2 = ((try? vm.check(.userMemory2)) ?? 0) > 0
        self.memslotsV2 = memslotsV2
        try lifecycleError { () throws(KVMError) in
            if memslotsV2 { try vm.setMemoryRegion(slot) } else { try vm.setMemoryRegionV1(slot) }
        }
        self.slot = slot
        journal.record("create.memory", [
            ("bytes", .uint(ram.size)), ("backing", .string(memory.backing)), ("map", "MAP_SHARED, MADV_DONTFORK"),
            ("slot", .int(0)), ("memslots", .string(memslotsV2 ? "v2" : "v1")), ("gpa", .uint(ram.base)), ("memlock", .string(memlock.description)),
            ("preallocated", .bool(preallocate)),
        ])
    }

    /// The one sentence for a refused `KVM_CREATE_VM(KVM_VM_TYPE_ARM_PROTECTED)`.
    static func createVMFailure(_ error: KVMError, mode: ARM64KVMMode) -> String {
        let base = "\(error.operation) failed with \(error.errnoName)"
        switch error.errno {
        case EINVAL:
            let booted = mode.value.map { "booted with kvm-arm.mode=\($0), per \(mode.source.rawValue)" } ?? "booted without kvm-arm.mode"
            return "\(base): this kernel does not accept protected VMs (it was \(booted)); boot Linux 7.1 or newer with kvm-arm.mode=protected, or run the guest with --platform model"
        case ENOMEM:
            return "\(base): the kernel could not allocate the VM; free memory or check RLIMIT_MEMLOCK (`ulimit -l`)"
        default:
            return "\(base) (\(Errno.message(error.errno))); check dmesg for pKVM errors, or run the guest with --platform model"
        }
    }

    public func makeAllPrivate(_ ram: GuestRAM) throws(LifecycleError) -> String {
        guard vm != nil else { throw .invalidState("makeAllPrivate before create") }
        return "nothing to do in the kernel: pKVM donates each page to the guest on its first stage-2 fault (pages the guest never touches stay readable by the host)"
    }

    public func load(_ image: ELFImage) throws(LifecycleError) {
        guard let memory else { throw .invalidState("load before create") }
        // Before the first KVM_RUN the host still owns every page, so the
        // image goes in through the one mapping; the bss is already zero.
        for segment in image.segments {
            let offset = segment.guestPhysicalAddress &- ram.base
            guard segment.guestPhysicalAddress >= ram.base, offset + segment.memorySize <= ram.size else {
                throw .badInput("segment at gpa 0x\(String(segment.guestPhysicalAddress, radix: 16)) does not fit in guest RAM; give the guest more --memory")
            }
            memory.write(segment.fileBytes, at: offset)
        }
        // The firmware region (top of RAM) is filled, or named to EL2, while
        // the host still owns every page: before the first KVM_RUN.
        guard let vm, let firmware else { return }
        do {
            firmwareBoot = try firmware.place(image, ram: ram, vm: vm)
        } catch {
            throw .badInput(error.description)
        }
        guard let boot = firmwareBoot else { return }
        if let bytes = boot.image { memory.write(bytes, at: boot.regionIPA - ram.base) }
        journal?.record("load.firmware", boot.journalFields(loadedBy: boot.image == nil ? "EL2 (SET_FW_IPA)" : "pvmh"))
    }

    public func createVCPUs(count: Int, entry: UInt64) throws(LifecycleError) {
        guard let vm else { throw .invalidState("createVCPUs before create") }
        try VMResources.checkVCPULimit(count, vm: vm)
        let boot = firmwareBoot.map { ARM64BootState(entry: $0.pc, arguments: $0.registers) } ?? ARM64BootState(entry: entry)
        try lifecycleError { () throws(KVMError) in try cpus.create(on: vm, count: count, boot: boot) }
        pendingClaims.reset(count: count)
    }

    public var vcpuCount: Int { cpus.count }

    // MARK: Running

    public func requestStop(vcpu index: Int) {
        cpus.requestStop(index)
    }

    public func run(vcpu index: Int) -> GuestEvent {
        cpus.run(index, hypercall: { call, _ in
            .stopped(.failed(VCPUFailure(.protocolError, "unexpected KVM_EXIT_HYPERCALL for function 0x\(String(call.nr, radix: 16)): a protected VM has no SMCCC filter")))
        }, claim: { claim in
            // EL2 already did it; the ledger hears of it now and the claim
            // is verified against host access once the ledger has answered.
            setPending(claim, vcpu: index)
            return .memoryNotice(claim.memoryRequest(transport: ARM64ProtectedPlatform.transport), hypervisor: .accepted)
        }, failure: { .ioctl($0, ARM64ProtectedPlatform.runFailure($0)) })
    }

    /// The sentence for a failed KVM_RUN on a protected VM.
    static func runFailure(_ error: KVMError) -> String {
        switch error.errno {
        case EIO: "\(error): pKVM refused the guest memory (it must be swap-backed memory such as a MAP_SHARED memfd, never guest_memfd)"
        case EFAULT: "\(error): the guest touched a page pKVM poisoned because the host kernel touched it (did something fork, or read guest memory through a kernel path?)"
        case ENOMEM: "\(error): pKVM could not pin guest memory; raise RLIMIT_MEMLOCK (`ulimit -l`)"
        default: error.description
        }
    }

    private func setPending(_ claim: ARM64OwnershipClaim?, vcpu index: Int) {
        pendingClaims.exchange(index, claim)
    }

    private func takePending(vcpu index: Int) -> ARM64OwnershipClaim? {
        pendingClaims.take(index)
    }

    public func complete(vcpu index: Int, reply: GuestReply) {
        guard let claim = takePending(vcpu: index) else { return }
        let access = probeHostRead(gpa: claim.ipa)
        journal?.record("verify.claim", [("vcpu", .int(Int64(index))), ("claim", .string(claim.kind.rawValue)),
                                         ("ipa", .uint(claim.ipa)), ("host_access", .string(access.description))])
        if let finding = claim.verify(access) { find(finding, [("ipa", .uint(claim.ipa))]) }
    }

    // MARK: Host access

    public func reflect(_ operation: MemoryRequest.Operation, _ range: GFNRange) throws(LifecycleError) {
        // EL2 changed the host's stage-2 before the guest reported it.
    }

    public func readHostMemory(gpa: UInt64, length: Int) throws(LifecycleError) -> [UInt8] {
        guard let memory, memory.isMapped else { throw .invalidState("guest RAM is not mapped") }
        guard length >= 0, ram.contains(gpa: gpa), gpa - ram.base + UInt64(length) <= ram.size else {
            throw .platform("gpa 0x\(String(gpa, radix: 16))+\(length) is outside guest RAM")
        }
        guard length > 0 else { return [] }
        // Ownership is per page: if a guarded read of a page's first byte
        // works, the whole page can be copied without risking the VMM.
        let offset = gpa - ram.base
        var page = offset / ram.pageSize * ram.pageSize
        while page < offset + UInt64(length) {
            let access = memory.probe(offset: max(page, offset))
            if case .faulted = access {
                throw .platform("a host read of gpa 0x\(String(ram.base + max(page, offset), radix: 16)) \(access): pKVM still holds that page for the guest")
            }
            page += ram.pageSize
        }
        return Array(UnsafeRawBufferPointer(start: memory.mapping.address(at: Int(offset)), count: length))
    }

    /// Every page is read back; a non-zero page pKVM never took (see
    /// `neverDonated`) is host data, not a leak. A donated page must read zero.
    public func checkZero(_ ranges: [GFNRange], pageSize: UInt64) -> ZeroCheck {
        let neverDonated = self.neverDonated
        return ZeroCheck(reading: ranges, pageSize: pageSize, neverTaken: { neverDonated.contains($0) }) { (gpa, length) throws(LifecycleError) in
            try readHostMemory(gpa: gpa, length: length)
        }
    }

    public func probeHostRead(gpa: UInt64) -> HostAccess {
        guard let memory, ram.contains(gpa: gpa) else { return .unmapped }
        return memory.probe(offset: gpa - ram.base)
    }

    public func probeHostReads(gpas: [UInt64]) -> [HostAccess] {
        guard let memory else { return gpas.map { _ in .unmapped } }
        return memory.probe(offsets: gpas.map { ram.contains(gpa: $0) ? $0 - ram.base : UInt64.max })
    }

    // MARK: Teardown

    public func reclaim(_ reclaim: Reclaim) throws(LifecycleError) {
        // Which private pages did pKVM really take? A guarded host read of
        // each says (a donated page faults). The zero check after reclaim
        // holds the donated ones to "zeroed"; the rest hold only host writes.
        neverDonated = []
        let gfns = reclaim.formerlyPrivate.flatMap { $0.start..<$0.end }
        let pages = UInt64(gfns.count)
        for (gfn, access) in zip(gfns, probeHostReads(gpas: gfns.map { $0 * ram.pageSize })) {
            if case .readable = access { neverDonated.insert(gfn) }
        }
        journal?.record("pkvm.donated", [("pages", .uint(pages - UInt64(neverDonated.count))), ("of", .uint(pages)),
                                         ("never_donated", .uint(UInt64(neverDonated.count)))])
        let errors = closeVM()
        journal?.record("pkvm.reclaim", [
            ("how", "closed the vCPU fds and the VM fd: the kernel reclaimed guest memory, zeroing guest-owned pages and keeping shared ones"),
            ("memslots", "not deleted: the kernel refuses after the first run (EPERM); they went with the VM"),
        ])
        if !errors.isEmpty { throw .teardown(errors.joined(separator: "; ")) }
    }

    /// Closes the vCPUs (kvm_run first) and the VM fd; the last reference
    /// runs pKVM's teardown synchronously.
    private func closeVM() -> [String] {
        VMResources.closeVM(vm, after: cpus.close())
    }

    /// Asks the kernel to delete memslot 0 now, and returns its refusal
    /// (nil if it complied). pvmh's teardown never does this: a protected
    /// VM's memslots cannot be deleted or moved once it has run (EPERM,
    /// Docs/kvm-abi.md). The regression suite calls it to check that the kernel
    /// still refuses, under a running vCPU. The corresponding ioctl is
    /// `KVM_SET_USER_MEMORY_REGION2` with size 0.
    public func deleteMemslotsNow() -> MemslotDeletion {
        guard let vm, vm.fd.isOpen, let slot else { return .refused(errno: EBADF) }
        do {
            if memslotsV2 { try vm.setMemoryRegion(slot.deletion) } else { try vm.setMemoryRegionV1(slot.deletion) }
            journal?.record("pkvm.memslot-deleted", [("slot", .int(0))])
            return .deleted
        } catch {
            journal?.record("pkvm.memslot-delete-refused", [("slot", .int(0)), ("errno", .string(error.errnoName))])
            return .refused(errno: error.errno)
        }
    }

    public func unbind() throws(LifecycleError) {
        journal?.record("pkvm.unbind", [("how", "nothing left to unbind: a protected VM's memslots cannot be deleted after the first run (EPERM) and were released with the VM at reclaim")])
    }

    public func release() throws(LifecycleError) {
        guard let memory else { return }
        do {
            try memory.release()
        } catch {
            throw .teardown(error.description)
        }
    }

    public func destroy() throws(LifecycleError) {
        // In the safe order the VM is already closed; in a broken one this is where it goes.
        try VMResources.destroy(system: system, vm: vm, vcpuErrors: cpus.close())
    }

    public var openResources: [String] {
        VMResources.open(system: system, vm: vm, memory: memory?.openResources ?? [], vcpus: cpus.vcpus)
    }
}
