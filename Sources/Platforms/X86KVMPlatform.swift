#if arch(x86_64)
import System
import GuestImage
import Glibc
import KVM
import Lifecycle
import Ownership

/// x86_64 KVM with guest RAM in one file bound to one memslot: a guest_memfd
/// (`MMAP|INIT_SHARED`, "x86_64-gmem") or, on every other KVM host, a memfd
/// ("x86_64-memfd"). KVM reaches it through one mapping (the memslot's
/// `userspace_addr`); every VMM access goes through a second mapping of the
/// same file, the host view, whose private ranges are `PROT_NONE` — so a host
/// bug that touches private memory faults, as it would under pKVM. Where the
/// kernel offers `KVM_SET_MEMORY_ATTRIBUTES`, private ranges are also marked
/// private in KVM.
// @unchecked: VM, memory and vCPUs are set up and torn down on the lifecycle thread
// while no vCPU runs (Platform's threading rule); vCPU threads share only
// `pending`, which locks itself, and stop flags read as C volatile bytes.
public final class X86KVMPlatform: TwoViewKVMPlatform, Platform, @unchecked Sendable {
    public let transport: HypercallTransport
    public let backend: RAMBackend
    public let transportReason: String
    /// How the doorbell, the report port and the answer to a doorbell call
    /// read and write the vCPU's registers: `kvm_run`'s synced area where
    /// the kernel offers `KVM_CAP_SYNC_REGS` with REGS and SREGS (no ioctl
    /// per call), else `KVM_GET_REGS` / `KVM_SET_REGS` / `KVM_GET_SREGS`.
    /// Journaled as `create.vm`'s `register_access`.
    public let registerAccess: X86RegisterAccess
    /// Why synced registers cannot be used here (nil: they can).
    private let syncRegsRefusal: String?
    public var guestABI: GuestABI { .x86_64KVM }

    private var vcpus: [VCPU] = []
    /// Per vCPU: the exit waiting for the ledger's answer.
    private let pending = PerVCPU<PendingExit>(empty: .none)
    private var stopFlags: [AtomicFlags] = []
    private var ram = GuestRAM(size: 0)
    private var useAttributes = false
    private var journal: Journal?

    private enum PendingExit {
        case none
        case hypercall
        case doorbell(X86GeneralRegisters)
        case portIn(PortIO)
    }

    public var description: PlatformDescription {
        PlatformDescription(
            id: "x86_64-\(backend.rawValue)", name: "x86_64 KVM + \(backend)",
            privateMemory: backend == .guestMemfd
                ? "guest_memfd MMAP|INIT_SHARED, all private in the ledger at creation"
                : "memfd (shmem, MAP_SHARED) in a plain memslot, all private in the ledger at creation",
            transport: transport == .vmcall ? "KVM_HC_MAP_GPA_RANGE via KVM_EXIT_HYPERCALL" : "port-I/O doorbell 0xE4 (vmcall does not complete here)",
            enforcement: useAttributes ? "KVM memory attributes + the VMM (host view PROT_NONE)" : "the VMM: private ranges of the host view are PROT_NONE",
            traits: PlatformTraits(flavour: .plainVM, memory: backend == .guestMemfd ? .guestMemfd : .memfd,
                                   transport: transport == .vmcall ? .hypercallExit : .portDoorbell),
            transportChoice: (transport.rawValue, transportReason))
    }

    /// Allocate all of guest memory at creation (fallocate), so what
    /// teardown gives back is measurable (the regression suite uses it).
    public var preallocate = false

    /// `backend` nil: guest_memfd where the kernel offers it with
    /// `MMAP|INIT_SHARED`, else a memfd. `registerAccess` nil: synced
    /// registers where the kernel offers them, else the register ioctls;
    /// `.ioctls` forces the ioctls (tests, the bench); `.syncRegs` where the
    /// kernel lacks them makes `create` fail with the reason.
    public init(system: KVMSystem, backend: RAMBackend? = nil, transport: HypercallTransport, transportReason: String,
                registerAccess: X86RegisterAccess? = nil) {
        self.backend = backend ?? (X86KVMPlatform.guestMemfdRefusal(system) == nil ? .guestMemfd : .memfd)
        self.transport = transport
        self.transportReason = transportReason
        let refusal = registerAccess == .ioctls ? nil : X86KVMPlatform.syncRegsRefusal(system)
        self.syncRegsRefusal = refusal
        self.registerAccess = registerAccess ?? (refusal == nil ? .syncRegs : .ioctls)
        super.init(system: system)
    }

    /// The register sets the exit paths need synced: the general registers
    /// (arguments and answer) and the special ones (EFER says whether RAX
    /// or only EAX is the call number).
    static let syncedSets: X86SyncRegisterSets = [.general, .special]

    /// nil when the kernel syncs the registers the exit paths need through
    /// `kvm_run`, else why not.
    public static func syncRegsRefusal(_ system: KVMSystem) -> String? {
        let offered = X86SyncRegisterSets(rawValue: UInt64(max(0, (try? system.check(.syncRegs)) ?? 0)))
        guard offered.isSuperset(of: syncedSets) else {
            return "this kernel's KVM_CAP_SYNC_REGS is \(offered), pvmh needs \(syncedSets) to use synced registers"
        }
        return nil
    }

    /// The guest_memfd flags this platform creates its memory with.
    static let guestMemfdFlags: GuestMemfdFlags = [.mmap, .initShared]

    /// nil when the kernel offers guest_memfd as this platform needs it, else
    /// why not, in one sentence that says what to do.
    public static func guestMemfdRefusal(_ system: KVMSystem) -> String? {
        guard (try? system.check(.guestMemfd)) ?? 0 > 0 else {
            return "this kernel has no guest_memfd (KVM_CAP_GUEST_MEMFD is 0; it needs Linux 6.8+); use --memory-backend memfd"
        }
        let supported = GuestMemfdFlags(rawValue: UInt64((try? system.check(.guestMemfdFlags)) ?? 0))
        guard supported.isSuperset(of: guestMemfdFlags) else {
            return "guest_memfd here accepts \(supported), but pvmh needs MMAP|INIT_SHARED (Linux 6.18+); use --memory-backend memfd"
        }
        guard ((try? system.check(.userMemory2)) ?? 0) > 0 else {
            return "this kernel has guest_memfd but no KVM_CAP_USER_MEMORY2 to bind it; use --memory-backend memfd"
        }
        return nil
    }

    // MARK: Creation

    public func create(ram: GuestRAM, journal: Journal) throws(LifecycleError) {
        if registerAccess == .syncRegs, let syncRegsRefusal { throw .platformUnavailable(syncRegsRefusal) }
        self.ram = ram
        self.journal = journal
        let backing: TwoViewGuestRAM.Backing
        switch backend {
        case .guestMemfd:
            if let refusal = X86KVMPlatform.guestMemfdRefusal(system) { throw .platformUnavailable(refusal) }
            backing = .guestMemfd(X86KVMPlatform.guestMemfdFlags)
        case .memfd:
            backing = .memfd(memslotsV2: ((try? system.check(.userMemory2)) ?? 0) > 0)
        }
        let vm = try lifecycleError { () throws(KVMError) in try system.createVM(type: .default) }
        self.vm = vm
        journal.record("create.vm", [("type", .string(VMType.default.description)), ("fd", .int(Int64(vm.fd.rawValue))),
                                     ("register_access", .string(registerAccess.rawValue))])

        let memory = try TwoViewGuestRAM(vm: vm, ram: ram, backing: backing, preallocate: preallocate)
        self.memory = memory
        try memory.bind(to: vm)
        var fields: [(String, JSONValue)] = [("bytes", .uint(ram.size)), ("backend", .string(backend.rawValue))]
        if case .guestMemfd(let flags) = backing { fields.append(("gmem_flags", .string(flags.description))) }
        journal.record("create.memory", fields + [("slot", .int(0)), ("gpa", .uint(ram.base))])
        if transport == .vmcall {
            try lifecycleError { () throws(KVMError) in try vm.enable(.exitHypercall, arguments: [1 << X86GuestProtocol.mapGPARange]) }
        }
        let attributes = (try? vm.check(.memoryAttributes)) ?? 0
        useAttributes = attributes & Int(MemoryAttributes.private.rawValue) != 0
    }

    public func makeAllPrivate(_ ram: GuestRAM) throws(LifecycleError) -> String {
        guard let vm, let memory else { throw .invalidState("makeAllPrivate before create") }
        var how: [String] = []
        if useAttributes {
            try lifecycleError { () throws(KVMError) in try vm.setMemoryAttributes(address: ram.base, size: ram.size, attributes: .private) }
            how.append("KVM_SET_MEMORY_ATTRIBUTES(PRIVATE)")
        }
        try memory.protectAll()
        how.append("host view PROT_NONE")
        return how.joined(separator: " + ")
    }

    public func load(_ image: ELFImage) throws(LifecycleError) {
        guard let memory else { throw .invalidState("load before create") }
        // Like a launch-time populate (SNP_LAUNCH_UPDATE, TDX init memory).
        try memory.load(image)
    }

    public func createVCPUs(count: Int, entry: UInt64) throws(LifecycleError) {
        pending.reset(count: count)
        guard let vm else { throw .invalidState("createVCPUs before create") }
        try VMResources.checkVCPULimit(count, vm: vm)
        let cpuid = try lifecycleError { () throws(KVMError) in try system.supportedCPUID() }
        for index in 0..<count {
            let vcpu = try lifecycleError { () throws(KVMError) in try vm.createVCPU(id: index) }
            try lifecycleError { () throws(KVMError) in try vcpu.setCPUID(cpuid) }
            vcpus.append(vcpu)
            stopFlags.append(AtomicFlags(count: 1))
            try lifecycleError { () throws(KVMError) in
                // EDI transport, ESI RAM size, EDX the vCPU's index (Docs/guests.md):
                // every vCPU starts here, none waits for INIT/SIPI.
                try vcpu.setFlatProtectedMode(entry: entry, arguments: [transport.guestSelector, ram.size & 0xFFFF_FFFF, UInt64(index)])
            }
            if registerAccess == .syncRegs { vcpu.enableSyncRegisters(X86KVMPlatform.syncedSets) }
        }
    }

    public var vcpuCount: Int { vcpus.count }

    // MARK: Running

    public func requestStop(vcpu index: Int) {
        guard index < vcpus.count else { return }
        stopFlags[index][0] = true
        vcpus[index].requestImmediateExit()
    }

    private func stopRequested(_ index: Int) -> Bool {
        stopFlags[index][0]
    }

    public func run(vcpu index: Int) -> GuestEvent {
        let vcpu = vcpus[index]
        while true {
            if stopRequested(index) { return .stopped(.stopRequested) }
            let exit: VCPUExit
            do {
                exit = try vcpu.runOnce()
            } catch {
                return .stopped(.failed(.ioctl(error)))
            }
            if let event = translate(exit, vcpu: vcpu, index: index) { return event }
        }
    }

    /// Turns a KVM exit into a lifecycle event; nil means "handled, run again".
    private func translate(_ exit: VCPUExit, vcpu: VCPU, index: Int) -> GuestEvent? {
        switch exit {
        case .io(let io):
            return translatePortIO(io, vcpu: vcpu, index: index)
        case .hypercall(let call):
            guard call.nr == X86GuestProtocol.mapGPARange else {
                vcpu.setHypercallReturn(UInt64(bitPattern: X86GuestProtocol.unknownHypercall))
                journal?.record("hypercall.unknown", [("vcpu", .int(Int64(index))), ("nr", .uint(call.nr))])
                return nil
            }
            pending.exchange(index, .hypercall)
            return .memoryRequest(X86KVMPlatform.memoryRequest(gpa: call.args[0], pages: call.args[1], attributes: call.args[2], transport: "vmcall"))
        case .hlt:
            return .stopped(.halted)
        case .shutdown:
            return .stopped(.shutdown)
        case .systemEvent(let event):
            return .stopped(event.type == .reset ? .reset : .poweredOff)
        case .interrupted:
            return stopRequested(index) ? .stopped(.stopRequested) : nil
        case .mmio(let access):
            return .stopped(.failed(.unmapped(address: access.address, isWrite: access.isWrite, length: access.length)))
        case .memoryFault, .internalError, .failEntry, .unhandled, .unsupported:
            return .stopped(.failed(VCPUFailure.unhandled(exit) ?? VCPUFailure(.unhandledExit, "\(exit)")))
        }
    }

    private func translatePortIO(_ io: PortIO, vcpu: VCPU, index: Int) -> GuestEvent? {
        if io.direction == .in {
            // No device answers reads: all ones, as on a bus with nothing there.
            vcpu.completePortIn(io, value: 0xFFFF_FFFF)
            return nil
        }
        switch io.port {
        case X86GuestProtocol.consolePort:
            return .console(io.data)
        case X86GuestProtocol.doorbellPort, X86GuestProtocol.reportPort:
            let regs: X86GeneralRegisters
            let efer: UInt64
            do {
                regs = try vcpu.registers(via: registerAccess)
                // Outside long mode only EAX is the call number (the upper
                // half may hold an old negative answer), as KVM treats vmcall.
                efer = io.port == X86GuestProtocol.doorbellPort ? try vcpu.extendedFeatureEnable(via: registerAccess) : 0
            } catch {
                return .stopped(.failed(.ioctl(error)))
            }
            if io.port == X86GuestProtocol.doorbellPort {
                let longMode = efer & X86KVMPlatform.eferLMA != 0
                let number = longMode ? regs.rax : regs.rax & 0xFFFF_FFFF
                guard number == X86GuestProtocol.mapGPARange else {
                    var reply = regs
                    reply.rax = UInt64(bitPattern: X86GuestProtocol.unknownHypercall)
                    do {
                        try vcpu.setRegisters(reply, via: registerAccess)
                    } catch {
                        return .stopped(.failed(.ioctl(error)))
                    }
                    journal?.record("hypercall.unknown", [("vcpu", .int(Int64(index))), ("nr", .uint(number)), ("transport", "doorbell")])
                    return nil
                }
                pending.exchange(index, .doorbell(regs))
                return .memoryRequest(X86KVMPlatform.memoryRequest(gpa: regs.rbx, pages: regs.rcx, attributes: regs.rdx, transport: "doorbell"))
            }
            return .report(X86KVMPlatform.report(code: regs.rax & 0xFFFF_FFFF, rbx: regs.rbx, rcx: regs.rcx, rdx: regs.rdx))
        default:
            journal?.record("io.unhandled", [("vcpu", .int(Int64(index))), ("port", .uint(UInt64(io.port)))])
            return nil
        }
    }

    /// EFER.LMA (bit 10): the guest runs in long mode.
    static let eferLMA: UInt64 = 0x400

    /// Decodes `KVM_HC_MAP_GPA_RANGE` arguments (a0 gpa, a1 pages, a2 attributes).
    public static func memoryRequest(gpa: UInt64, pages: UInt64, attributes: UInt64, transport: String) -> MemoryRequest {
        let sizeShift: UInt64 = switch attributes & X86GuestProtocol.pageSizeMask {
        case 1: 9    // 2 MiB = 512 pages
        case 2: 18   // 1 GiB
        default: 0
        }
        let (scaled, overflow) = pages.multipliedReportingOverflow(by: 1 << sizeShift)
        return MemoryRequest(operation: attributes & X86GuestProtocol.attributePrivate != 0 ? .unshare : .share,
                             gpa: gpa, pages: overflow ? UInt64.max : scaled, transport: transport)
    }

    /// Decodes a harness report (EAX code, RBX/RCX/RDX arguments).
    public static func report(code: UInt64, rbx: UInt64, rcx: UInt64, rdx: UInt64) -> HarnessReport {
        switch X86GuestProtocol.Report(rawValue: code) {
        case .message: .message(gpa: rbx, length: rcx)
        case .check: .check(id: rbx, passed: rcx == 1, value: Int64(bitPattern: rdx))
        case .done: .done(status: rbx)
        case .corrupted: .corrupted(gpa: rbx, expected: rcx, found: rdx)
        case nil: .unknown(code: code, arguments: [rbx, rcx, rdx])
        }
    }

    public func complete(vcpu index: Int, reply: GuestReply) {
        let vcpu = vcpus[index]
        let state = pending.take(index)
        guard case .memoryResult(let result) = reply else { return }
        let value: Int64 = switch result {
        case .success: 0
        case .failure: X86GuestProtocol.rejected
        }
        switch state {
        case .hypercall:
            vcpu.setHypercallReturn(UInt64(bitPattern: value))
        case .doorbell(var regs):
            regs.rax = UInt64(bitPattern: value)
            // Cannot fail with synced registers (enabled with the vCPU); if
            // KVM_SET_REGS fails the guest finds its call number in RAX, not
            // an answer.
            _ = try? vcpu.setRegisters(regs, via: registerAccess)
        case .none, .portIn:
            break
        }
    }

    // MARK: Enforcement

    public func reflect(_ operation: MemoryRequest.Operation, _ range: GFNRange) throws(LifecycleError) {
        guard let vm, let memory else { throw .invalidState("reflect before create") }
        if useAttributes {
            try lifecycleError { () throws(KVMError) in
                try vm.setMemoryAttributes(address: range.start * ram.pageSize, size: range.count * ram.pageSize,
                                           attributes: operation == .unshare || operation == .donate ? .private : [])
            }
        }
        try memory.reflect(operation, range)
    }

    /// Every page of guest memory made a data page of its file, as a guest
    /// that wrote all of it leaves it (`pvmh bench`'s stressed VM).
    public func touchEveryPage() { memory?.touchEveryPage() }

    /// How host reads are probed: in this process under a guarded
    /// SIGSEGV/SIGBUS handler (default; the vCPUs are stopped by then), or in
    /// a forked child, which shares the MAP_SHARED views but cannot take the
    /// VMM down (≈0.4 ms a probe). The results are the same.
    public enum HostReadProbe: Sendable { case guarded, child }
    public var hostReadProbe: HostReadProbe = .guarded

    public override func probeHostRead(gpa: UInt64) -> HostAccess {
        guard hostReadProbe == .child else { return super.probeHostRead(gpa: gpa) }
        guard let address = memory?.hostAddress(of: gpa) else { return .unmapped }
        return HostAccess(GuardedRead.inChild(address))
    }

    public override func probeHostReads(gpas: [UInt64]) -> [HostAccess] {
        guard hostReadProbe == .child else { return super.probeHostReads(gpas: gpas) }
        return gpas.map { probeHostRead(gpa: $0) }
    }

    // MARK: Teardown

    public func reclaim(_ reclaim: Reclaim) throws(LifecycleError) {
        guard let memory else { return }
        try memory.reclaim(formerlyPrivate: reclaim.formerlyPrivate)
        if useAttributes, let vm {
            try lifecycleError { () throws(KVMError) in try vm.setMemoryAttributes(address: ram.base, size: ram.size, attributes: []) }
        }
    }

    public var openResources: [String] {
        VMResources.open(system: system, vm: vm, memory: memory?.openResources ?? [], vcpus: vcpus)
    }

    public func destroy() throws(LifecycleError) {
        defer { vm = nil }
        try VMResources.destroy(system: system, vm: vm, vcpuErrors: vcpus.flatMap(VMResources.close))
    }
}

// MARK: Catalogue

extension X86KVMPlatform {
    /// The catalogue entry of x86_64 KVM with `backend` memory.
    static func entry(_ backend: RAMBackend) -> PlatformEntry {
        PlatformEntry(id: "x86_64-\(backend.rawValue)", availability: { probe in availability(backend, probe) }) { system, probe, options throws(LifecycleError) in
            let requested = options.transport
            let transport: HypercallTransport
            let reason: String
            if let requested {
                transport = requested
                reason = "chosen with --transport"
            } else if let probed = probe.transport {
                transport = probed
                reason = probe.transportReason ?? ""
            } else {
                let (result, source) = TransportCache.transport(system: system, kvmPath: probe.kvmPath)
                transport = result.transport
                if case .cached(let path) = source {
                    reason = "\(result.reason) (probed earlier this boot, cached in \(path); `pvmh probe --refresh` probes again)"
                } else {
                    reason = result.reason
                }
            }
            return X86KVMPlatform(system: system, backend: backend, transport: transport, transportReason: reason)
        }
    }

    static func availability(_ backend: RAMBackend, _ probe: HostProbe) -> HostProbe.PlatformAvailability {
        let noKVM = PlatformEntry.noKVM(probe)
        let transport = probe.transport.map { ", share/unshare via \($0.rawValue)" } ?? ""
        switch backend {
        case .memfd:
            let memslots = (probe.capability(.userMemory2) ?? 0) > 0 ? "memslots v2" : "memslots v1"
            return .init(id: "x86_64-memfd", name: "x86_64 KVM + memfd", available: noKVM == nil,
                         reason: noKVM ?? "every KVM takes memfd (shmem) memory in a plain memslot (\(memslots) here); the VMM enforces privacy with a PROT_NONE host view" + transport,
                         backend: .memfd)
        case .guestMemfd:
            func row(_ available: Bool, _ reason: String) -> HostProbe.PlatformAvailability {
                .init(id: "x86_64-gmem", name: "x86_64 KVM + guest_memfd", available: available, reason: reason, backend: .guestMemfd)
            }
            let flags = probe.guestMemfdFlags ?? []
            if let noKVM { return row(false, noKVM) }
            if (probe.capability(.guestMemfd) ?? 0) == 0 { return row(false, "needs KVM_CAP_GUEST_MEMFD (Linux 6.8+)") }
            if !flags.isSuperset(of: guestMemfdFlags) {
                return row(false, "needs guest_memfd flags MMAP|INIT_SHARED (Linux 6.18+); this kernel accepts \(flags)")
            }
            if (probe.capability(.userMemory2) ?? 0) == 0 { return row(false, "needs KVM_CAP_USER_MEMORY2") }
            return row(true, "guest_memfd MMAP|INIT_SHARED and memslots v2 work; the VMM enforces privacy with a PROT_NONE host view" + transport)
        }
    }
}

/// The x86 software-protected VM type: listed with the reason, not implemented.
enum X86SoftwareProtectedEntry {
    static let entry = PlatformEntry(id: "x86_64-sw-protected", availability: { probe in
        let offered = probe.vmTypes.contains(.x86SoftwareProtected)
        return .init(id: "x86_64-sw-protected", name: "x86_64 software-protected VM", available: false,
                     reason: PlatformEntry.noKVM(probe) ?? (offered
                        ? "the kernel offers KVM_X86_SW_PROTECTED_VM, but pvmh does not implement this platform yet"
                        : "needs KVM_X86_SW_PROTECTED_VM in KVM_CAP_VM_TYPES (this kernel offers \(probe.vmTypes.map(\.description).joined(separator: ", ")))"))
    }) { _, _, _ throws(LifecycleError) in
        throw .platformUnavailable("pvmh does not implement the x86_64 software-protected VM yet")
    }
}

#endif
