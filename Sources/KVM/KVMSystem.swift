import CKVM
import Glibc

/// The KVM subsystem: an open `/dev/kvm`.
// @unchecked: an open /dev/kvm fd; closed once, in teardown, on the lifecycle thread.
public final class KVMSystem: @unchecked Sendable {
    /// The API version every supported kernel reports.
    public static let expectedAPIVersion = 12

    public let fd: OwnedFileDescriptor
    public let path: String

    /// Opens `/dev/kvm` (or `path`) and checks the API version.
    /// Errors say what to do: ENOENT means the kernel has no KVM, EACCES a
    /// permission problem, ENODEV a KVM that failed to initialise.
    public init(path: String = "/dev/kvm") throws(KVMError) {
        let result = ckvm_open(path, O_RDWR)
        if result < 0 {
            throw KVMError("open(\(path))", errno: -result, hint: KVMSystem.openHint(errno: -result))
        }
        fd = OwnedFileDescriptor(result, kind: "/dev/kvm")
        self.path = path
        let version = try apiVersion()
        guard version == KVMSystem.expectedAPIVersion else {
            throw KVMError("KVM_GET_API_VERSION", errno: EINVAL,
                           hint: "the kernel reports API version \(version), pvmh needs \(KVMSystem.expectedAPIVersion)")
        }
    }

    static func openHint(errno: Int32) -> String? {
        switch errno {
        case ENOENT:
            #if arch(x86_64)
            return "this kernel has no KVM (load kvm and kvm_intel/kvm_amd, or use --platform model)"
            #else
            // arm64 KVM is built in: no module to load, only a kernel or boot to change.
            return "this kernel has no KVM (arm64 KVM is built in: boot a kernel with CONFIG_KVM=y at EL2, or use --platform model)"
            #endif
        case EACCES, EPERM: return "no permission to open it (add yourself to the kvm group or run as root)"
        case ENODEV, ENXIO: return "KVM is present but not usable (check dmesg: virtualization disabled in firmware?)"
        default: return nil
        }
    }

    /// `KVM_GET_API_VERSION`.
    public func apiVersion() throws(KVMError) -> Int {
        try Syscall.ioctl(fd.rawValue, CKVM_GET_API_VERSION, value: 0, "KVM_GET_API_VERSION")
    }

    /// `KVM_CHECK_EXTENSION` on the system fd: 0 when absent, otherwise the
    /// capability's value (often a bitmap or a limit).
    public func check(_ capability: Capability) throws(KVMError) -> Int {
        try Syscall.ioctl(fd.rawValue, CKVM_CHECK_EXTENSION, value: capability.extensionArgument, "KVM_CHECK_EXTENSION(\(capability.name))")
    }

    /// Size of the per-vCPU `kvm_run` mapping. The corresponding ioctl is `KVM_GET_VCPU_MMAP_SIZE`.
    public func vcpuMmapSize() throws(KVMError) -> Int {
        try Syscall.ioctl(fd.rawValue, CKVM_GET_VCPU_MMAP_SIZE, value: 0, "KVM_GET_VCPU_MMAP_SIZE")
    }

    /// Creates a VM. The corresponding ioctl is `KVM_CREATE_VM`.
    public func createVM(type: VMType = .default) throws(KVMError) -> VirtualMachine {
        let result: Int
        do {
            result = try Syscall.ioctl(fd.rawValue, CKVM_CREATE_VM, value: type.rawValue, "KVM_CREATE_VM(\(type))")
        } catch {
            var e = error
            if e.errno == EINVAL && type != .default {
                e = KVMError(e.operation, errno: e.errno, hint: "this kernel does not support \(type)")
            }
            throw e
        }
        return VirtualMachine(fd: OwnedFileDescriptor(Int32(result), kind: "kvm-vm"), system: self, type: type)
    }

    /// Whether `/dev/kvm` can be opened read/write with the expected API version.
    public static func isAvailable(path: String = "/dev/kvm") -> Bool {
        (try? KVMSystem(path: path)) != nil
    }
}
