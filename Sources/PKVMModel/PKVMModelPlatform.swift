import A64
import Glibc
import GuestImage
import Lifecycle
import Ownership

/// "pKVM model": a software EL2 with pKVM's ownership state machine as the
/// source of truth, the A64 interpreter as its vCPUs, and the host kernel's
/// side of teardown in a configurable order. Every host access to guest
/// memory goes through the owner table; touching a page the host does not own
/// is a detected fault naming the page and its owner.
// @unchecked: per-vCPU state is touched by its own vCPU thread; what vCPUs share
// (system-off, CPU_ON, the hypercall log) is under `lock`, set-up and teardown
// run on the lifecycle thread while no vCPU runs (Platform's threading rule).
public final class PKVMModelPlatform: Platform, @unchecked Sendable {
    public let configuration: ModelConfiguration
    public var guestABI: GuestABI { .arm64Model }
    public static let traits = PlatformTraits(flavour: .model, memory: .model, transport: .hypervisorHandled)
    /// The most vCPUs the model runs (`pvmh run --vcpus`): each is a thread
    /// running the interpreter, secondaries powered off until PSCI CPU_ON.
    public static let maximumVCPUs = 8
    /// The first hypercalls kept in `hypercalls`; a guest that makes more
    /// (a storm) must not grow the VMM without bound.
    public static let recordedHypercalls = 4096
    /// Refused or unsupported hypercalls journaled one by one; past this the
    /// guest is storming, and one `hypercall.storm` event says so.
    public static let journaledBadHypercalls = 100
    private var badHypercalls = 0  // guarded by `lock`

    private var memory: ModelMemory?
    private var table: HypPageTable?
    private var el2: ModelEL2
    private var vcpus: [ModelVCPU] = []
    private var journal: Journal?
    private var ram = GuestRAM(size: 0)
    /// Where vCPU 0 starts when a firmware file runs first.
    private var firmwareBoot: FirmwareBoot?
    private var vmExists = false
    private var reclaimed = false
    private var unbound = false

    private var lock = pthread_mutex_t()
    private var wake = pthread_cond_t()
    /// EL2's own lock: one vCPU's hypercall is decided (and the page table
    /// changed) at a time, as pKVM serialises a VM's page-state changes.
    private var el2Lock = pthread_mutex_t()
    private var systemOff: VCPUStopReason?
    private let hostFindings = FindingLog(event: "model.fault")
    private var hypercallLog: [HypercallRecord] = []

    public init(configuration: ModelConfiguration = ModelConfiguration()) {
        self.configuration = configuration
        el2 = ModelEL2(vendorCalls: configuration.vendorCalls, flavour: configuration.flavour)
        pthread_mutex_init(&lock, nil)
        pthread_cond_init(&wake, nil)
        pthread_mutex_init(&el2Lock, nil)
    }

    deinit {
        pthread_cond_destroy(&wake)
        pthread_mutex_destroy(&lock)
        pthread_mutex_destroy(&el2Lock)
    }

    /// EL2's decision on one call, under EL2's lock.
    private func decide(_ registers: [UInt64], table: HypPageTable) -> HypercallOutcome {
        pthread_mutex_lock(&el2Lock)
        defer { pthread_mutex_unlock(&el2Lock) }
        return el2.handle(registers, table: table, scrub: scrub)
    }

    public var description: PlatformDescription {
        PlatformDescription(
            id: "model", name: configuration.flavour == .upstream ? "pKVM model (software EL2 + A64 interpreter)"
                : "pKVM model, \(configuration.flavour) (software EL2 + A64 interpreter)",
            privateMemory: "donated to the guest at the model's EL2 on creation",
            transport: configuration.flavour == .upstream ? "HVC to the model's EL2 (pKVM's MEM_SHARE/MEM_UNSHARE ids)"
                : "HVC to the model's EL2 (pKVM's MEM_SHARE/MEM_UNSHARE, Android's MEM_RELINQUISH and MMIO guard ids)",
            enforcement: "the model: every host access is checked against the EL2 owner table (kernel teardown order: \(configuration.kernelOrder.rawValue))",
            traits: Self.traits)
    }

    /// Faults and disagreements the model detected (host touched a page it
    /// does not own, ledger and EL2 disagree).
    public var findings: [Finding] { hostFindings.all }

    /// The HVCs/SMCs the guest made (the first `recordedHypercalls` of
    /// them), in order, with the PC of the instruction and the register state
    /// at the call (for differential checks against QEMU).
    public var hypercalls: [HypercallRecord] {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return hypercallLog
    }

    private func find(_ finding: Finding, _ fields: [(String, JSONValue)]) {
        hostFindings.record(finding, fields, journal: journal)
    }

    // MARK: Creation

    public func create(ram: GuestRAM, journal: Journal) throws(LifecycleError) {
        guard ram.base % ram.pageSize == 0, ram.size % ram.pageSize == 0, ram.size > 0 else {
            throw .badInput("model guest RAM must be page aligned and non-empty")
        }
        // The model as Android's pKVM takes a firmware file as the real
        // platform does; it has no device pvmfw (INFO would say 0 bytes).
        switch configuration.firmware {
        case .none, .file where configuration.flavour == .android:
            break
        case .device where configuration.flavour == .android:
            throw .platformUnavailable("--firmware device: the model has no device pvmfw (its INFO would report firmware_size 0); give a firmware file, or none")
        case .device, .file:
            throw .platformUnavailable("--firmware needs Android's pKVM, and the model is upstream's; add --model-pkvm android")
        }
        self.ram = ram
        self.journal = journal
        do {
            memory = try ModelMemory(base: ram.base, size: ram.size, pageSize: ram.pageSize)
        } catch {
            throw .platform(error.description)
        }
        table = HypPageTable(baseGFN: ram.base / ram.pageSize, pageCount: Int(ram.size / ram.pageSize))
        vmExists = true
        journal.record("create.vm", [("type", "pKVM model protected VM"), ("kernel_order", .string(configuration.kernelOrder.rawValue)),
                                     ("vendor_calls", .bool(configuration.vendorCalls)), ("pkvm", .string(configuration.flavour.rawValue)),
                                     ("firmware", .string(configuration.firmware.description))])
        journal.record("create.memory", [("bytes", .uint(ram.size)), ("gpa", .uint(ram.base)), ("backing", "model guest_memfd")])
    }

    public func makeAllPrivate(_ ram: GuestRAM) throws(LifecycleError) -> String {
        guard let table else { throw .invalidState("makeAllPrivate before create") }
        table.donateAllToGuest()
        return "donated to the guest at the model's EL2 (host NOPAGE, guest OWNED)"
    }

    public func load(_ image: ELFImage) throws(LifecycleError) {
        guard let memory else { throw .invalidState("load before create") }
        // The hypervisor's launch-time populate: EL2 may write guest-owned
        // pages; the host never touches them.
        for segment in image.segments {
            guard memory.contains(segment.guestPhysicalAddress, segment.memorySize) else {
                throw .badInput("segment at gpa 0x\(String(segment.guestPhysicalAddress, radix: 16)) does not fit in model RAM 0x\(String(ram.base, radix: 16))+\(ram.size); give the guest more --memory")
            }
            memory.write(segment.fileBytes, at: segment.guestPhysicalAddress)
        }
        guard case .file(_, let bytes) = configuration.firmware else { return }
        switch FirmwareRegion.boot(of: image, ram: ram, firmwareImage: bytes) {
        case .success(let boot):
            memory.write(bytes, at: boot.regionIPA)
            firmwareBoot = boot
            journal?.record("load.firmware", boot.journalFields(loadedBy: "pvmh"))
        case .failure(let error):
            throw .badInput(error.description)
        }
    }

    public func createVCPUs(count: Int, entry: UInt64) throws(LifecycleError) {
        guard (1...Self.maximumVCPUs).contains(count) else {
            throw .badInput("the pKVM model runs 1 to \(Self.maximumVCPUs) vCPUs, not \(count); use --vcpus 1 to \(Self.maximumVCPUs)")
        }
        for index in 0..<count {
            let vcpu = ModelVCPU(index: index)
            vcpu.devices.transport = configuration.guestTransport
            vcpu.cpu.pc = entry
            if index == 0, let boot = firmwareBoot {
                // pvmfw's boot protocol: X0 device tree, X1 entry, X2 size.
                vcpu.cpu.pc = boot.pc
                for (n, value) in boot.registers.enumerated() { vcpu.cpu[x: n] = value }
            }
            vcpu.poweredOn = index == 0
            vcpus.append(vcpu)
        }
    }

    public var vcpuCount: Int { vcpus.count }

    // MARK: Running

    public func requestStop(vcpu index: Int) {
        guard index < vcpus.count else { return }
        pthread_mutex_lock(&lock)
        vcpus[index].stopRequested = true
        pthread_cond_broadcast(&wake)
        pthread_mutex_unlock(&lock)
    }

    /// Blocks a powered-off or WFI-idle vCPU until CPU_ON, system off or a stop request.
    private func waitForWork(_ vcpu: ModelVCPU, idle: Bool) -> GuestEvent? {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        while true {
            if let off = systemOff { return .stopped(off) }
            if vcpu.stopRequested { return .stopped(.stopRequested) }
            if !idle && vcpu.poweredOn { return nil }
            pthread_cond_wait(&wake, &lock)
        }
    }

    private func checkStop(_ vcpu: ModelVCPU) -> GuestEvent? {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        if let off = systemOff { return .stopped(off) }
        if vcpu.stopRequested { return .stopped(.stopRequested) }
        return nil
    }

    public func run(vcpu index: Int) -> GuestEvent {
        let vcpu = vcpus[index]
        guard let memory, let pointer = memory.pointer, let table else {
            return .stopped(.failed(VCPUFailure(.protocolError, "the model VM has no memory")))
        }
        if !vcpu.poweredOn, let event = waitForWork(vcpu, idle: false) { return event }
        let bus = GuestBus(memory: pointer, base: memory.base, size: memory.size,
                           pageShift: UInt64(ram.pageSize.trailingZeroBitCount), table: table)
        while true {
            if let event = checkStop(vcpu) { return event }
            let stop = vcpu.cpu.run(bus, maxInstructions: configuration.sliceInstructions)
            if let event = handle(stop, vcpu: vcpu, table: table) { return event }
        }
    }

    /// Turns an interpreter stop into a lifecycle event; nil means handled, keep running.
    private func handle(_ stop: A64Stop, vcpu: ModelVCPU, table: HypPageTable) -> GuestEvent? {
        let cpu = vcpu.cpu
        switch stop {
        case .instructionLimit:
            return exceptionLoop(vcpu)
        case .hvc, .smc:
            let registers = (0..<31).map { cpu[x: $0] }
            pthread_mutex_lock(&lock)
            if hypercallLog.count < Self.recordedHypercalls {
                hypercallLog.append(HypercallRecord(vcpu: vcpu.index, pc: cpu.pc &- 4, registers: registers, sp: cpu.sp, pstate: cpu.pstate))
            }
            pthread_mutex_unlock(&lock)
            vcpu.hypercalls += 1
            let outcome = decide(registers, table: table)
            switch outcome {
            case .result(let values) where values.first == ModelEL2.notSupported:
                journalBadHypercall("hypercall.not-supported", [("vcpu", .int(Int64(vcpu.index))), ("function", .uint(registers[0])),
                                                                ("pc", .uint(cpu.pc &- 4))])
            default:
                break
            }
            return handle(outcome, vcpu: vcpu, path: .hvc)
        case .mmio(let access):
            return handleMMIO(access, vcpu: vcpu, table: table)
        case .wfi:
            // No interrupt sources are modelled: WFI idles until the VMM stops the vCPU.
            return waitForWork(vcpu, idle: true)
        case .busFault(let address, let pc, let kind):
            if memory?.contains(address) == true, let event = donateOnFault(gfn: address / ram.pageSize, table: table, vcpu: vcpu) {
                return event
            }
            if memory?.contains(address) == true, let i = table.index(of: address / ram.pageSize) {
                let (host, guest) = table.states(index: i)
                return .stopped(.failed(VCPUFailure(.stage2Fault(gpa: address), "stage-2 fault: the guest's \(kind) of gpa 0x\(String(address, radix: 16)) at pc 0x\(String(pc, radix: 16)) hit a page it cannot access (guest \(guest), host \(host)); KVM_RUN would fail with EFAULT")))
            }
            return .stopped(.failed(VCPUFailure(.unmappedAccess(gpa: address), stop.description)))
        default:
            return .stopped(.failed(VCPUFailure(.interpreter, stop.description)))
        }
    }

    /// How a call reached EL2, and so how its answer goes back: X0…X3
    /// after an `hvc`, or X0 as the value of the guest's load of the
    /// harness doorbell's CALL register (vendor calls only).
    private enum CallPath {
        case hvc, doorbell

        var transport: String { self == .hvc ? "hvc" : "mmio doorbell" }
    }

    /// Gives the guest EL2's answer (`values`: X0…X3) the way its call came.
    private func answer(_ values: [UInt64], to cpu: A64CPU, via path: CallPath) {
        switch path {
        case .hvc:
            for n in 0...3 { cpu[x: n] = n < values.count ? values[n] : 0 }
        case .doorbell:
            try? cpu.completeMMIORead(values.first ?? ModelEL2.notSupported)
        }
    }

    /// What EL2's decision on one call means for the guest and the VMM,
    /// whichever way the call came (PSCI only ever comes by `hvc`).
    private func handle(_ outcome: HypercallOutcome, vcpu: ModelVCPU, path: CallPath) -> GuestEvent? {
        let cpu = vcpu.cpu
        if outcome.isPSCI, path != .hvc {
            answer([ModelEL2.notSupported], to: cpu, via: path)
            return nil
        }
        switch outcome {
        case .result(let values):
            answer(values, to: cpu, via: path)
            return nil
        case .memory(let operation, let ipa, let accepted, let refusal):
            answer([accepted ? 0 : ModelEL2.invalid], to: cpu, via: path)
            if !accepted, refusal == .malformedArguments {
                // pKVM refuses a malformed call before it looks at any page,
                // so there is no ownership change for the VMM's ledger to
                // agree with: answer the guest, journal it, resume.
                journalBadHypercall("hypercall.refused", [("vcpu", .int(Int64(vcpu.index))), ("operation", .string(operation.rawValue)),
                                                          ("ipa", .uint(ipa)), ("reason", .string(EL2Refusal.malformedArguments.description))])
                return nil
            }
            return memoryNotice(operation, ipa: ipa, accepted: accepted, refusal: refusal, vcpu: vcpu, transport: path.transport)
        case .relinquishedNothing(let ipa):
            answer([0], to: cpu, via: path)
            journal?.record("model.relinquish-unmapped", [("vcpu", .int(Int64(vcpu.index))), ("ipa", .uint(ipa))])
            return nil
        case .mmioGuard(let call, let ipa, let refusal):
            answer([refusal == nil ? 0 : ModelEL2.invalid], to: cpu, via: path)
            journalMMIOGuard(call.rawValue, ipa: ipa, refusal: refusal?.description, vcpu: vcpu)
            return nil
        case .systemOff, .systemReset:
            pthread_mutex_lock(&lock)
            if systemOff == nil { systemOff = outcome == .systemOff ? .poweredOff : .reset }
            let reason = systemOff!
            pthread_cond_broadcast(&wake)
            pthread_mutex_unlock(&lock)
            return .stopped(reason)
        case .cpuOff:
            return .stopped(.halted)
        case .cpuOn(let target, let entry, let context):
            let index = Int(target & 0xFF)
            pthread_mutex_lock(&lock)
            defer { pthread_mutex_unlock(&lock) }
            guard target & ~UInt64(0xFF) == 0, index < vcpus.count else {
                cpu[x: 0] = UInt64(bitPattern: SMCCCReturn.psciInvalidParameters)
                return nil
            }
            let other = vcpus[index]
            guard !other.poweredOn else {
                cpu[x: 0] = UInt64(bitPattern: SMCCCReturn.psciAlreadyOn)
                return nil
            }
            other.cpu.pc = entry
            other.cpu[x: 0] = context
            other.poweredOn = true
            pthread_cond_broadcast(&wake)
            cpu[x: 0] = 0
            return nil
        }
    }

    /// The VMM's ledger hears of a memory transition EL2 decided (a
    /// relinquished page zeroed by then) and must agree with it.
    private func memoryNotice(_ operation: HypercallOutcome.MemoryOperation, ipa: UInt64, accepted: Bool, refusal: EL2Refusal?,
                              vcpu: ModelVCPU, transport: String) -> GuestEvent {
        let request: MemoryRequest.Operation = switch operation {
        case .share: .share
        case .unshare: .unshare
        case .relinquish: .relinquish
        }
        return .memoryNotice(MemoryRequest(operation: request, gpa: ipa, pages: 1, transport: transport),
                             hypervisor: accepted ? .accepted : .refused(refusal?.description ?? "refused"))
    }

    /// Journals an MMIO guard decision EL2 made (the VMM of a real pKVM
    /// never hears of these), the first `journaledBadHypercalls` refusals.
    private func journalMMIOGuard(_ what: String, ipa: UInt64, refusal: String?, vcpu: ModelVCPU) {
        let fields: [(String, JSONValue)] = [("vcpu", .int(Int64(vcpu.index))), ("call", .string(what)), ("ipa", .uint(ipa)),
                                             ("result", .string(refusal == nil ? "ok" : "refused"))]
        if let refusal {
            journalBadHypercall("model.mmio-guard", fields + [("reason", .string(refusal))])
        } else {
            journal?.record("model.mmio-guard", fields)
        }
    }

    /// A guest touching a page it gave back (MEM_RELINQUISH) faults, and
    /// pKVM donates the page to it again, as on any first touch; the ledger
    /// hears of it, and the access is retried when the vCPU runs on.
    private func donateOnFault(gfn: UInt64, table: HypPageTable, vcpu: ModelVCPU) -> GuestEvent? {
        pthread_mutex_lock(&el2Lock)
        let donated = table.donateOnFault(gfn)
        pthread_mutex_unlock(&el2Lock)
        guard donated else { return nil }
        journal?.record("model.donated", [("vcpu", .int(Int64(vcpu.index))), ("gfn", .uint(gfn))])
        return .memoryNotice(MemoryRequest(operation: .donate, gpa: gfn * ram.pageSize, pages: 1, transport: "stage-2 fault"), hypervisor: .accepted)
    }

    /// EL2's zeroing of guest page `index` (`hyp_poison_page`).
    private func scrub(_ index: Int) {
        memory?.zeroPage(index)
    }

    private func handleMMIO(_ access: A64MMIOAccess, vcpu: ModelVCPU, table: HypPageTable) -> GuestEvent? {
        let cpu = vcpu.cpu
        let address = access.address
        if memory?.contains(address) == true {
            // A page the guest gave back: donated again, the access retried.
            if let event = donateOnFault(gfn: address / ram.pageSize, table: table, vcpu: vcpu) { return event }
            let i = table.index(of: address / ram.pageSize)!
            let (host, guest) = table.states(index: i)
            return .stopped(.failed(VCPUFailure(.stage2Fault(gpa: address), "stage-2 fault: the guest's \(access.isWrite ? "write" : "read") of gpa 0x\(String(address, radix: 16)) at pc 0x\(String(access.pc, radix: 16)) hit a page it cannot access (guest \(guest), host \(host)); KVM_RUN would fail with EFAULT")))
        }
        // Android's MMIO guard: once enrolled, an access to a granule the
        // guest did not map never reaches the host; EL2 hands the guest a
        // synchronous external abort instead.
        if !table.mmioGuard.permits(address: address, size: access.size) {
            journalMMIOGuard("access", ipa: address, refusal: "not guarded: external abort injected", vcpu: vcpu)
            do {
                try cpu.injectDataAbort(address: address, isWrite: access.isWrite)
                return nil
            } catch {
                return .stopped(.failed(VCPUFailure(.unmappedAccess(gpa: address), "the guest touched MMIO gpa 0x\(String(address, radix: 16)) it did not map in the MMIO guard, and has no vector table for the abort pKVM gives it: \(error)")))
            }
        }
        if !access.isWrite, let call = vcpu.devices.doorbellCall(at: address) {
            return doorbell(call.function, call.arguments, vcpu: vcpu, table: table)
        }
        // The UART and the harness window are decoded by the devices every
        // arm64 platform shares; only the check of a claim is the model's own.
        if !access.isWrite, let value = vcpu.devices.read(address: address) {
            try? cpu.completeMMIORead(value)
            return nil
        }
        if access.isWrite {
            switch vcpu.devices.write(address: address, value: access.value) {
            case .absorbed:
                try? cpu.completeMMIOWrite()
                return nil
            case .event(let event):
                try? cpu.completeMMIOWrite()
                return event
            case .claim(let claim):
                try? cpu.completeMMIOWrite()
                verify(claim, table: table)
                return nil
            case .noDevice:
                break
            }
        }
        return .stopped(.failed(VCPUFailure(.unmappedAccess(gpa: address), "the guest \(access.isWrite ? "wrote" : "read") \(access.size) bytes at gpa 0x\(String(address, radix: 16)) (pc 0x\(String(access.pc, radix: 16))), where there is neither RAM nor a device")))
    }

    /// A vendor call through the harness doorbell (Docs/guests.md): EL2
    /// answers it as it answers an `hvc`, and the answer (X0 only) completes
    /// the guest's load of CALL. Only vendor-hypervisor calls (owner 6) travel
    /// this way; anything else is NOT_SUPPORTED, never a PSCI call.
    private func doorbell(_ function: UInt64, _ arguments: [UInt64], vcpu: ModelVCPU, table: HypPageTable) -> GuestEvent? {
        let cpu = vcpu.cpu
        guard (function >> 24) & 0x3F == 6 else {
            try? cpu.completeMMIORead(ModelEL2.notSupported)
            journalBadHypercall("hypercall.not-supported", [("vcpu", .int(Int64(vcpu.index))), ("function", .uint(function)),
                                                            ("transport", .string("mmio doorbell"))])
            return nil
        }
        vcpu.hypercalls += 1
        var registers = [UInt64](repeating: 0, count: 31)
        registers[0] = function
        for (n, value) in arguments.prefix(3).enumerated() { registers[n + 1] = value }
        return handle(decide(registers, table: table), vcpu: vcpu, path: .doorbell)
    }

    /// The guest's claim of a share/unshare; EL2 is the truth here, so check it agrees.
    private func verify(_ claim: ARM64OwnershipClaim, table: HypPageTable) {
        let expected: PKVMPageState = switch claim.kind {
        case .shared: .sharedOwned
        case .unshared: .owned
        case .relinquished: .noPage
        }
        let actual = table.guest(claim.ipa / ram.pageSize)
        if actual != expected {
            find(.claimContradictsHypervisor(claim, hypervisorState: actual?.description), [("ipa", .uint(claim.ipa))])
        }
    }

    public func complete(vcpu index: Int, reply: GuestReply) {
        // EL2 already answered the guest; the lifecycle checks that the
        // ledger reached the same verdict (a `memoryNotice`).
    }

    /// Journals a refused or unsupported hypercall, the first
    /// `journaledBadHypercalls` of them; a storm of them stays bounded.
    private func journalBadHypercall(_ name: String, _ fields: [(String, JSONValue)]) {
        pthread_mutex_lock(&lock)
        badHypercalls += 1
        let count = badHypercalls
        pthread_mutex_unlock(&lock)
        if count <= Self.journaledBadHypercalls {
            journal?.record(name, fields)
        } else if count == Self.journaledBadHypercalls + 1 {
            journal?.record("hypercall.storm", [("after", .int(Int64(Self.journaledBadHypercalls))),
                                                ("message", "further refused or unsupported hypercalls are answered but not journaled")])
        }
    }

    // MARK: Exception loops

    /// Stops a vCPU whose exception vectors fault again and again.
    ///
    /// On hardware, and under real pKVM, such a guest spins at EL1 until the
    /// VMM's `--timeout`; nothing in it can recover, because the handler
    /// faulted before it saved ELR/SPSR. The model sees it and ends the run
    /// with a verdict instead. Evidence, sampled between interpreter slices
    /// (so the fast path pays nothing): the latest exception was taken from
    /// inside the vector table (ELR_EL1 in [VBAR_EL1, VBAR_EL1 + 0x800)), and
    /// a whole slice later the latest exception is still that one (same
    /// ELR_EL1 and ESR_EL1) with the PC still in the table.
    private func exceptionLoop(_ vcpu: ModelVCPU) -> GuestEvent? {
        let system = vcpu.cpu.system
        let vbar = system.vbarEL1, elr = system.elrEL1, esr = system.esrEL1, pc = vcpu.cpu.pc
        let inVectors = { (address: UInt64) in vbar != 0 && address >= vbar && address - vbar < 0x800 }
        guard inVectors(elr), inVectors(pc) else {
            vcpu.exceptionLoopEvidence = nil
            return nil
        }
        guard let previous = vcpu.exceptionLoopEvidence, previous.elr == elr, previous.esr == esr else {
            vcpu.exceptionLoopEvidence = (elr, esr)
            return nil
        }
        let hex = { (value: UInt64) in "0x" + String(value, radix: 16) }
        journal?.record("model.exception-loop", [("vcpu", .int(Int64(vcpu.index))), ("vbar", .uint(vbar)), ("elr", .uint(elr)),
                                                 ("esr", .uint(esr)), ("ec", .uint(esr >> 26))])
        return .stopped(.failed(VCPUFailure(.exceptionLoop, "exception loop: the guest's exception vector faults again and again (ESR_EL1 \(hex(esr)), EC \(hex(esr >> 26)), taken at \(hex(elr)) inside the vector table at VBAR_EL1 \(hex(vbar))), so it can never return; stopped by the model (real pKVM would spin until --timeout)")))
    }

    // MARK: Host access through the owner table

    public func reflect(_ operation: MemoryRequest.Operation, _ range: GFNRange) throws(LifecycleError) {
        // EL2 already changed the stage-2; nothing for the VMM to enforce.
    }

    private func hostAccess(_ gfn: UInt64, by who: String) -> Bool {
        guard let table else { return false }
        if table.hostMayAccess(gfn) { return true }
        let host = table.host(gfn)?.description ?? "?"
        let guest = table.guest(gfn)?.description ?? "?"
        find(.hostTouchedGuestPage(gfn: gfn, hostState: host, guestState: guest, by: who),
             [("gfn", .uint(gfn)), ("host_state", .string(host)), ("guest_state", .string(guest)), ("by", .string(who))])
        return false
    }

    public func readHostMemory(gpa: UInt64, length: Int) throws(LifecycleError) -> [UInt8] {
        guard let memory, memory.isAllocated, memory.contains(gpa, UInt64(length)) else {
            throw .platform("gpa 0x\(String(gpa, radix: 16))+\(length) is not model guest memory")
        }
        let first = gpa / ram.pageSize, last = (gpa + UInt64(length) - 1) / ram.pageSize
        for gfn in first...last where !hostAccess(gfn, by: "the VMM") {
            throw .platform("host fault: gfn 0x\(String(gfn, radix: 16)) is not the host's (SIGSEGV under pKVM)")
        }
        return memory.bytes(at: gpa, count: length)
    }

    /// The owner table's host states, page by page, as runs.
    public func observeHostAccess() -> HostAccessObservation? {
        guard let table else { return nil }
        let first = ram.base / ram.pageSize
        var runs: [HostAccessRun] = []
        for index in 0..<table.pageCount {
            let open = table.hostMayAccess(first + UInt64(index))
            if let last = runs.last, last.hostMayAccess == open, last.range.end == first + UInt64(index) {
                runs[runs.count - 1].range.count += 1
            } else {
                runs.append(HostAccessRun(GFNRange(start: first + UInt64(index), count: 1), hostMayAccess: open))
            }
        }
        return HostAccessObservation(source: "the model's EL2 owner table", runs: runs)
    }

    public func probeHostRead(gpa: UInt64) -> HostAccess {
        guard let memory, memory.isAllocated, memory.contains(gpa), let table else { return .unmapped }
        // A probe expects the fault: it is not a finding.
        guard table.hostMayAccess(gpa / ram.pageSize) else { return .faulted(signal: SIGSEGV, code: 2) }
        return .readable(memory.bytes(at: gpa, count: 1)[0])
    }

    // MARK: Teardown (the host kernel's side, in the configured order)

    public func reclaim(_ reclaim: Reclaim) throws(LifecycleError) {
        if configuration.kernelOrder == .unbindBeforeReclaim { unbindGuestMemfd() }
        hypervisorReclaim()
    }

    public func unbind() throws(LifecycleError) {
        // A memslot delete reclaims before it unbinds in a correct kernel.
        if configuration.kernelOrder == .correct { hypervisorReclaim() }
        unbindGuestMemfd()
        if configuration.kernelOrder == .unbindBeforeReclaim { hypervisorReclaim() }
    }

    /// pKVM teardown: start (VM dying) → reclaim every page (scrub guest-owned
    /// ones, keep shared ones) → finalize.
    private func hypervisorReclaim() {
        guard !reclaimed, let table, let memory else { return }
        reclaimed = true
        var zeroed = 0, kept = 0
        for i in 0..<table.pageCount {
            switch table.reclaim(index: i, zero: memory.zeroPage) {
            case .zeroed: zeroed += 1
            case .kept: kept += 1
            case .alreadyHost: break
            }
        }
        journal?.record("model.hyp-teardown", [("phases", "start → reclaim → finalize"), ("zeroed", .int(Int64(zeroed))), ("kept_shared", .int(Int64(kept)))])
    }

    /// guest_memfd unbind: its pages go back to the host allocator, which
    /// reuses them at once (the host kernel writes each one). In the broken
    /// order the guest still owns them: that write is the fault pKVM turns into
    /// an oops, recorded here with the page and its owner.
    private func unbindGuestMemfd() {
        guard !unbound, let table, let memory else { return }
        unbound = true
        var faults = 0
        for i in 0..<table.pageCount {
            table.release(index: i)
            let gfn = table.baseGFN + UInt64(i)
            if table.hostMayAccess(gfn) { continue }
            faults += 1
            if faults <= 4 {
                let (host, guest) = table.states(index: i)
                find(.allocatorReusedGuestPage(gfn: gfn, hostState: host.description, guestState: guest.description),
                     [("gfn", .uint(gfn)), ("host_state", .string(host.description)), ("guest_state", .string(guest.description)), ("by", "host allocator")])
            }
            // pKVM force-reclaims on such a touch: zeroed, guest view poisoned.
            table.forceReclaim(index: i, zero: memory.zeroPage)
        }
        if faults > 4 {
            find(.moreAllocatorReuses(count: faults - 4), [("count", .int(Int64(faults - 4)))])
        }
        journal?.record("model.gmem-unbind", [("pages", .int(Int64(table.pageCount))), ("host_faults", .int(Int64(faults)))])
    }

    public func release() throws(LifecycleError) {
        memory?.free()
        memory = nil
    }

    public func destroy() throws(LifecycleError) {
        vcpus.removeAll()
        table = nil
        vmExists = false
    }

    public var openResources: [String] {
        var open: [String] = []
        if memory?.isAllocated == true { open.append("model guest memory") }
        if vmExists { open.append("model VM") }
        return open
    }
}

/// One HVC/SMC as the guest made it.
public struct HypercallRecord: Equatable, Sendable {
    public var vcpu: Int
    /// Address of the HVC/SMC instruction.
    public var pc: UInt64
    /// X0–X30 at the call (X0 is the function id).
    public var registers: [UInt64]
    /// The stack pointer in use and PSTATE (SPSR layout) at the call.
    public var sp: UInt64
    public var pstate: UInt64
}

/// One model vCPU: the interpreter state plus what the platform tracks for it.
// @unchecked: its interpreter state is run by its own vCPU thread only; the
// power and stop flags other vCPUs change are under the platform's `lock`.
final class ModelVCPU: @unchecked Sendable {
    let index: Int
    let cpu = A64CPU()
    var poweredOn = false
    var stopRequested = false
    var hypercalls = 0
    /// The UART and harness window as this vCPU sees them (its ARG0…ARG2).
    var devices = ARM64GuestDevices()
    /// The recursive exception seen at the last slice boundary (exceptionLoop).
    var exceptionLoopEvidence: (elr: UInt64, esr: UInt64)?

    init(index: Int) {
        self.index = index
        cpu.system.mpidrEL1 = 0x8000_0000 | UInt64(index)
    }
}
