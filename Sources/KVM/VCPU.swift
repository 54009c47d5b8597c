import CKVM
import Glibc

/// A vCPU fd and its `kvm_run` mapping. A VCPU is driven by one thread at a
/// time (its run loop); other threads only `requestImmediateExit()`.
// @unchecked: one thread drives a vCPU at a time (its run loop); other threads
// only set `immediate_exit`, a single byte KVM itself reads racily by design.
public final class VCPU: @unchecked Sendable {
    public let id: Int
    public let fd: OwnedFileDescriptor
    /// The shared `kvm_run` page(s).
    public let run: HostMapping

    init(id: Int, fd: OwnedFileDescriptor, run: HostMapping) {
        self.id = id
        self.fd = fd
        self.run = run
    }

    private var runBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: run.address(), count: run.length)
    }

    /// Enters the guest until it exits. The corresponding ioctl is `KVM_RUN`.
    public func runOnce() throws(KVMError) -> VCPUExit {
        let result = ckvm_ioctl_value(fd.rawValue, CKVM_RUN, 0)
        return try VCPUExit.decode(run: runBytes, result: result < 0 ? Int32(result) : 0)
    }

    /// Sets `kvm_run.immediate_exit`, so the next (or current, once kicked by a
    /// signal) KVM_RUN returns EINTR instead of entering the guest.
    public func requestImmediateExit(_ value: Bool = true) {
        ckvm_store_u8_volatile(run.address(at: VCPUExit.Layout.immediateExit), value ? 1 : 0)
    }

    /// `KVM_MP_STATE_STOPPED`: the vCPU is powered off (PSCI CPU_OFF or
    /// SYSTEM_OFF on arm64, or created with KVM_ARM_VCPU_POWER_OFF).
    public static let multiprocessingStateStopped: UInt32 = 5

    /// The vCPU's multiprocessing state (`KVM_MP_STATE_*`). The
    /// corresponding ioctl is `KVM_GET_MP_STATE`.
    public func multiprocessingState() throws(KVMError) -> UInt32 {
        var state: UInt32 = 0
        _ = try Syscall.ioctl(fd.rawValue, CKVM_GET_MP_STATE, &state, "KVM_GET_MP_STATE")
        return state
    }

    /// Writes the result of a forwarded hypercall (`kvm_run.hypercall.ret`).
    public func setHypercallReturn(_ value: UInt64) {
        run.address(at: VCPUExit.Layout.hypercallReturn).storeBytes(of: value, as: UInt64.self)
    }

    /// Completes a port IN: the data KVM hands the guest on the next run.
    public func completePortIn(_ io: PortIO, value: UInt32) {
        let bytes = withUnsafeBytes(of: value.littleEndian) { Array($0.prefix(Int(io.size))) }
        for index in 0..<Int(io.count) {
            run.address(at: io.dataOffset + index * Int(io.size)).copyMemory(from: bytes, byteCount: bytes.count)
        }
    }

    /// Completes an MMIO read: the data KVM hands the guest on the next run.
    public func completeMMIORead(_ access: MMIOAccess, value: UInt64) {
        let bytes = withUnsafeBytes(of: value.littleEndian) { Array($0.prefix(Int(access.length))) }
        run.address(at: VCPUExit.Layout.exitUnion + 8).copyMemory(from: bytes, byteCount: bytes.count)
    }
}
