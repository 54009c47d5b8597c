#if arch(x86_64)
import Glibc
import KVM
import Lifecycle

/// Finds out whether a guest `vmcall` with `KVM_HC_MAP_GPA_RANGE` reaches the
/// VMM on this host, by running one in a throwaway VM under a watchdog. On
/// nested KVM such as kvm_pvm the instruction never completes (KVM_RUN spins),
/// so the answer cannot be read from capabilities alone.
public enum TransportProbe {
    public struct Result: Sendable, Equatable {
        public var transport: HypercallTransport
        public var reason: String

        public init(transport: HypercallTransport, reason: String) {
            self.transport = transport
            self.reason = reason
        }
    }

    /// Real-mode code at GPA 0: mov eax,12; mov ebx,0x1000; mov ecx,1;
    /// xor edx,edx; vmcall; hlt.
    static let probeCode: [UInt8] = [
        0x66, 0xB8, 0x0C, 0x00, 0x00, 0x00,
        0x66, 0xBB, 0x00, 0x10, 0x00, 0x00,
        0x66, 0xB9, 0x01, 0x00, 0x00, 0x00,
        0x66, 0x31, 0xD2,
        0x0F, 0x01, 0xC1,
        0xF4,
    ]

    public static func probe(system: KVMSystem, watchdogMilliseconds: UInt64 = 100) -> Result {
        let mask = (try? system.check(.exitHypercall)) ?? 0
        guard mask & (1 << Int(X86GuestProtocol.mapGPARange)) != 0 else {
            return Result(transport: .doorbell, reason: "KVM_CAP_EXIT_HYPERCALL does not offer KVM_HC_MAP_GPA_RANGE (mask 0x\(String(mask, radix: 16)))")
        }
        do {
            let vm = try system.createVM()
            let memory = try HostMapping(anonymousLength: 0x10000, protection: [.read, .write], what: "transport probe memory")
            memory.address().copyMemory(from: probeCode, byteCount: probeCode.count)
            try vm.setMemoryRegion(MemorySlot(slot: 0, flags: [], guestPhysicalAddress: 0, size: 0x10000,
                                              userspaceAddress: UInt64(UInt(bitPattern: memory.address()))))
            try vm.enable(.exitHypercall, arguments: [1 << X86GuestProtocol.mapGPARange])
            let vcpu = try vm.createVCPU(id: 0)
            var sregs = try vcpu.specialRegisters()
            sregs.cs.base = 0
            sregs.cs.selector = 0
            try vcpu.setSpecialRegisters(sregs)
            var regs = X86GeneralRegisters()
            regs.rip = 0
            regs.rflags = 2
            try vcpu.setRegisters(regs)

            let box = ExitBox()
            let thread = try VCPUThread(index: 0) {
                box.set(Swift.Result { () throws(KVMError) in try vcpu.runOnce() })
            }
            var finished = thread.join(timeoutNanoseconds: watchdogMilliseconds * 1_000_000)
            if !finished {
                vcpu.requestImmediateExit()
                while !finished {
                    thread.kick()
                    finished = thread.join(timeoutNanoseconds: 10_000_000)
                }
            }
            switch box.get() {
            case .success(.hypercall(let call)) where call.nr == X86GuestProtocol.mapGPARange:
                return Result(transport: .vmcall, reason: "a probe guest's vmcall arrived as KVM_EXIT_HYPERCALL")
            case .success(.interrupted):
                return Result(transport: .doorbell, reason: "a probe guest's vmcall did not complete within \(watchdogMilliseconds) ms and the vCPU had to be kicked out (nested KVM such as kvm_pvm spins at vmcall)")
            case .success(let other):
                return Result(transport: .doorbell, reason: "a probe guest's vmcall ended in \(other) instead of KVM_EXIT_HYPERCALL")
            case .failure(let error):
                return Result(transport: .doorbell, reason: "the vmcall probe failed: \(error)")
            case nil:
                return Result(transport: .doorbell, reason: "the vmcall probe produced no exit")
            }
        } catch let error as KVMError {
            return Result(transport: .doorbell, reason: "the vmcall probe could not run: \(error)")
        } catch {
            return Result(transport: .doorbell, reason: "the vmcall probe could not start a thread: \(error)")
        }
    }
}

private typealias ExitBox = LockedValue<Swift.Result<VCPUExit, KVMError>>
#endif
