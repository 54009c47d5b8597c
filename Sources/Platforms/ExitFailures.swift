import KVM
import Lifecycle

/// The failures every KVM platform reports the same way: one sentence per
/// kind of exit, written once.
extension VCPUFailure {
    /// The failure for an exit no platform handles (memory fault, internal
    /// error, failed entry, an exit pvmh cannot decode); nil for the others.
    static func unhandled(_ exit: VCPUExit) -> VCPUFailure? {
        switch exit {
        case .memoryFault(let fault):
            VCPUFailure(.memoryFault(gpa: fault.gpa),
                        "KVM_EXIT_MEMORY_FAULT at gpa 0x\(String(fault.gpa, radix: 16)) size \(fault.size) (\(fault.isPrivate ? "private" : "shared") access)")
        case .internalError(let suberror, let data):
            VCPUFailure(.internalError, "KVM_EXIT_INTERNAL_ERROR suberror \(suberror) data \(data.map { "0x" + String($0, radix: 16) })")
        case .failEntry(let reason, let cpu):
            VCPUFailure(.failEntry, "KVM_EXIT_FAIL_ENTRY reason 0x\(String(reason, radix: 16)) on cpu \(cpu)")
        case .unhandled(.armNISV):
            VCPUFailure(.unhandledExit, "\(VCPUExit.Reason.armNISV.unhandledDescription): the guest accessed MMIO with an instruction KVM cannot emulate (a load/store pair or writeback); use single-register ldr/str for device registers")
        case .unhandled(let reason):
            VCPUFailure(.unhandledExit, reason.unhandledDescription)
        case .unsupported(let reason):
            VCPUFailure(.unhandledExit, reason)
        default:
            nil
        }
    }

    /// A guest access where there is neither RAM nor a device.
    static func unmapped(address: UInt64, isWrite: Bool, length: UInt32) -> VCPUFailure {
        VCPUFailure(.unmappedAccess(gpa: address),
                    "the guest \(isWrite ? "wrote" : "read") \(length) bytes at gpa 0x\(String(address, radix: 16)), where there is neither RAM nor a device (KVM_EXIT_MMIO)")
    }

    /// A failed ioctl on the vCPU, keeping its name and errno (and a hint).
    static func ioctl(_ error: KVMError, _ sentence: String? = nil) -> VCPUFailure {
        VCPUFailure(.ioctlFailed(errno: error.errno), sentence ?? error.description)
    }
}
