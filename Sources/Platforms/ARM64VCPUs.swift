import System
import GuestImage
import KVM
import Lifecycle

/// What an arm64 platform does about one KVM exit. Pure, so it is tested
/// with synthetic exits on any host.
public enum ARM64ExitAction: Equatable, Sendable {
    /// A guest load from MMIO: answer it from the guest devices.
    case mmioRead(MMIOAccess)
    /// A guest store to MMIO (KVM completes it on the next run).
    case mmioWrite(address: UInt64, value: UInt64)
    /// An SMCCC call the filter forwarded (`KVM_EXIT_HYPERCALL`).
    case hypercall(HypercallExit)
    /// Enter the guest again (a signal that was not a stop request).
    case resume
    case stop(VCPUStopReason)
}

/// The exit policy shared by the arm64 KVM platforms.
public enum ARM64ExitPolicy {
    public static func action(for exit: VCPUExit, stopRequested: Bool) -> ARM64ExitAction {
        switch exit {
        case .mmio(let access):
            return access.isWrite ? .mmioWrite(address: access.address, value: ARM64GuestDevices.value(of: access.data)) : .mmioRead(access)
        case .hypercall(let call):
            return .hypercall(call)
        case .systemEvent(let event):
            // PSCI SYSTEM_OFF / SYSTEM_RESET: KVM has already stopped every vCPU.
            switch event.type {
            case .shutdown: return .stop(.poweredOff)
            case .reset: return .stop(.reset)
            case .crash: return .stop(.failed(VCPUFailure(.guestCrash, "the guest reported a crash (KVM_EXIT_SYSTEM_EVENT CRASH, data \(event.data))")))
            default: return .stop(.failed(VCPUFailure(.unhandledExit, "KVM_EXIT_SYSTEM_EVENT \(event.type) is not one pvmh handles")))
            }
        case .interrupted:
            return stopRequested ? .stop(.stopRequested) : .resume
        case .shutdown:
            return .stop(.shutdown)
        case .hlt:
            return .stop(.halted)
        case .io(let io):
            return .stop(.failed(VCPUFailure(.unhandledExit, "KVM_EXIT_IO (port 0x\(String(io.port, radix: 16))) on arm64, which has no port I/O")))
        case .memoryFault, .internalError, .failEntry, .unhandled, .unsupported:
            return .stop(.failed(VCPUFailure.unhandled(exit) ?? VCPUFailure(.unhandledExit, "\(exit)")))
        }
    }

    /// The failure for an MMIO access no device decodes.
    public static func noDevice(address: UInt64, isWrite: Bool, length: UInt32) -> VCPUStopReason {
        .failed(.unmapped(address: address, isWrite: isWrite, length: length))
    }
}

/// The vCPUs of an arm64 KVM VM: created with the preferred target and PSCI
/// 0.2, run with the shared exit policy and guest devices, stopped with
/// `immediate_exit`, and closed in teardown.
// @unchecked: the vCPU list is built before any vCPU thread starts and closed
// after they stop; each thread touches only its own VCPU and devices, and the
// cross-thread flags are AtomicFlags (sequentially consistent).
final class ARM64VCPUs: @unchecked Sendable {
    private(set) var vcpus: [VCPU] = []
    /// Two bytes per vCPU: [0] a stop was requested, [1] its thread is
    /// inside `run` (and may touch `kvm_run`). Seq-cst loads and stores, so
    /// `close()` and a vCPU thread cannot both miss each other's flag.
    private var flags: [AtomicFlags] = []
    /// One box per vCPU, each touched only by its vCPU's thread: the array
    /// itself is never mutated while vCPUs run (mutating one element of a
    /// shared array from several threads would be a data race).
    private var devices: [DeviceBox] = []

    private final class DeviceBox {
        var devices: ARM64GuestDevices
        init(_ devices: ARM64GuestDevices) { self.devices = devices }
    }

    var count: Int { vcpus.count }

    /// Creates `count` vCPUs. vCPU 0 starts in `boot` (the bare-metal boot
    /// state at the entry, or a firmware's); the others start powered off and
    /// wait for PSCI CPU_ON.
    func create(on vm: VirtualMachine, count: Int, boot: ARM64BootState,
                transport: ARM64GuestProtocol.Transport = .hvc) throws(KVMError) {
        let preferred = try vm.preferredTarget()
        for index in 0..<count {
            let vcpu = try vm.createVCPU(id: index)
            vcpus.append(vcpu)
            flags.append(AtomicFlags(count: 2))
            devices.append(DeviceBox(ARM64GuestDevices(transport: transport)))
            var request = ARM64VCPUInit(target: preferred.target, features: [.psci02])
            if index > 0 { request.insert(.powerOff) }
            try vcpu.initialize(request)
            if index == 0 { try vcpu.setBootState(boot) }
        }
    }

    /// Why a vCPU the VMM stopped stopped: a vCPU KVM holds powered off
    /// (PSCI CPU_OFF, the other vCPUs after SYSTEM_OFF, a secondary never
    /// started) had finished; KVM keeps it asleep in KVM_RUN, so the VMM's
    /// kick is what ends its thread (Docs/kvm-abi.md). Where the state cannot
    /// be read, the VMM's request is all that is known.
    private func stopReason(_ index: Int) -> VCPUStopReason {
        guard let state = try? vcpus[index].multiprocessingState(), state == VCPU.multiprocessingStateStopped else {
            return .stopRequested
        }
        return .poweredOff
    }

    func requestStop(_ index: Int) {
        guard index < vcpus.count else { return }
        flags[index][0] = true
        if vcpus[index].run.isMapped { vcpus[index].requestImmediateExit() }
    }

    func stopRequested(_ index: Int) -> Bool {
        flags[index][0]
    }

    /// Runs vCPU `index` until an event for the lifecycle. `hypercall`,
    /// `doorbell` and `claim` return nil for "handled, run again"; `failure`
    /// turns a failed KVM_RUN into the sentence the user sees. `doorbell`
    /// gets an SMCCC call made through the harness doorbell (a load of CALL
    /// that must be completed with X0 before the next run).
    func run(_ index: Int,
             hypercall: (HypercallExit, VCPU) -> GuestEvent?,
             doorbell: (SMCCCRegisters, MMIOAccess, VCPU) -> GuestEvent? = { _, _, _ in nil },
             claim: (ARM64OwnershipClaim) -> GuestEvent?,
             failure: (KVMError) -> VCPUFailure) -> GuestEvent {
        let vcpu = vcpus[index]
        flags[index][1] = true
        defer { flags[index][1] = false }
        while true {
            if stopRequested(index) { return .stopped(stopReason(index)) }
            let exit: VCPUExit
            do {
                exit = try vcpu.runOnce()
            } catch {
                return .stopped(.failed(failure(error)))
            }
            switch ARM64ExitPolicy.action(for: exit, stopRequested: stopRequested(index)) {
            case .resume:
                continue
            case .stop(.stopRequested):
                return .stopped(stopReason(index))
            case .stop(let reason):
                return .stopped(reason)
            case .hypercall(let call):
                if let event = hypercall(call, vcpu) { return event }
            case .mmioRead(let access):
                if let call = devices[index].devices.doorbellCall(at: access.address) {
                    let registers = SMCCCRegisters(call.function, call.arguments[0], call.arguments[1], call.arguments[2])
                    if let event = doorbell(registers, access, vcpu) { return event }
                    continue
                }
                guard let value = devices[index].devices.read(address: access.address) else {
                    return .stopped(ARM64ExitPolicy.noDevice(address: access.address, isWrite: false, length: access.length))
                }
                vcpu.completeMMIORead(access, value: value)
            case .mmioWrite(let address, let value):
                switch devices[index].devices.write(address: address, value: value) {
                case .absorbed:
                    continue
                case .event(let event):
                    return event
                case .claim(let report):
                    if let event = claim(report) { return event }
                case .noDevice:
                    if case .mmio(let access) = exit {
                        return .stopped(ARM64ExitPolicy.noDevice(address: address, isWrite: true, length: access.length))
                    }
                    return .stopped(ARM64ExitPolicy.noDevice(address: address, isWrite: true, length: 0))
                }
            }
        }
    }

    /// Unmaps every `kvm_run` and closes every vCPU fd (a `kvm_run` mapping
    /// holds its vCPU file, which holds the VM). A vCPU whose thread is still
    /// inside `run` is left open (unmapping its `kvm_run` under it would crash
    /// the VMM) and reported. Returns the failures.
    func close() -> [String] {
        var errors: [String] = []
        for (index, vcpu) in vcpus.enumerated() {
            requestStop(index)
            if flags[index][1] {
                errors.append("vCPU \(index) was still running, so its fd and kvm_run stay open; stop the vCPUs before closing the VM")
                continue
            }
            errors += VMResources.close(vcpu)
        }
        return errors
    }
}
