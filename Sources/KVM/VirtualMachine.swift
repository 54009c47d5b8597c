import CKVM
import Glibc

/// A VM fd. vCPUs, guest_memfd files and memslots hang off it.
// @unchecked: holds only its OwnedFileDescriptor and the system; ioctls on one
// VM fd from several threads are what KVM expects.
public final class VirtualMachine: @unchecked Sendable {
    public let fd: OwnedFileDescriptor
    public let system: KVMSystem
    public let type: VMType

    init(fd: OwnedFileDescriptor, system: KVMSystem, type: VMType) {
        self.fd = fd
        self.system = system
        self.type = type
    }

    /// `KVM_CHECK_EXTENSION` on the VM fd (answers for this VM's type).
    public func check(_ capability: Capability) throws(KVMError) -> Int {
        try Syscall.ioctl(fd.rawValue, CKVM_CHECK_EXTENSION, value: capability.extensionArgument, "KVM_CHECK_EXTENSION(\(capability.name))")
    }

    /// Enables a VM capability. The corresponding ioctl is `KVM_ENABLE_CAP`;
    /// `flags` is its `flags` field (a subcommand for some capabilities),
    /// `name` what an error calls the call.
    public func enable(_ capability: Capability, flags: UInt32 = 0, arguments: [UInt64] = [], name: String? = nil) throws(KVMError) {
        var request = ckvm_enable_cap()
        request.cap = UInt32(bitPattern: capability.rawValue)
        request.flags = flags
        withUnsafeMutableBytes(of: &request.args) { raw in
            for (index, value) in arguments.prefix(4).enumerated() {
                raw.storeBytes(of: value, toByteOffset: index * 8, as: UInt64.self)
            }
        }
        _ = try Syscall.ioctl(fd.rawValue, CKVM_ENABLE_CAP, &request, name ?? "KVM_ENABLE_CAP(\(capability.name))")
    }

    /// Creates a guest_memfd file of `size` bytes (page aligned).
    /// The corresponding ioctl is `KVM_CREATE_GUEST_MEMFD`. Requires `KVM_CAP_GUEST_MEMFD`.
    public func createGuestMemfd(size: UInt64, flags: GuestMemfdFlags) throws(KVMError) -> GuestMemfd {
        var request = ckvm_create_guest_memfd()
        request.size = size
        request.flags = flags.rawValue
        let result: Int
        do {
            result = try Syscall.ioctl(fd.rawValue, CKVM_CREATE_GUEST_MEMFD, &request, "KVM_CREATE_GUEST_MEMFD")
        } catch {
            let hint: String? = switch error.errno {
            case ENOTTY: "this kernel has no guest_memfd (needs Linux 6.8+ with CONFIG_KVM_GUEST_MEMFD)"
            case EINVAL: "size \(size) or flags \(flags) not accepted (size must be page aligned; see KVM_CAP_GUEST_MEMFD_FLAGS)"
            default: nil
            }
            throw KVMError(error.operation, errno: error.errno, hint: hint)
        }
        return GuestMemfd(fd: OwnedFileDescriptor(Int32(result), kind: "kvm-gmem"), size: size, flags: flags)
    }

    /// Creates, or deletes (`memorySize == 0`), a memslot.
    /// The corresponding ioctl is `KVM_SET_USER_MEMORY_REGION2`. Requires `KVM_CAP_USER_MEMORY2`.
    public func setMemoryRegion(_ slot: MemorySlot) throws(KVMError) {
        var region = ckvm_userspace_memory_region2()
        region.slot = slot.slot
        region.flags = slot.flags.rawValue
        region.guest_phys_addr = slot.guestPhysicalAddress
        region.memory_size = slot.size
        region.userspace_addr = slot.userspaceAddress
        region.guest_memfd_offset = slot.guestMemfdOffset
        region.guest_memfd = UInt32(bitPattern: slot.guestMemfd)
        let name = slot.size == 0 ? "KVM_SET_USER_MEMORY_REGION2(delete slot \(slot.slot))" : "KVM_SET_USER_MEMORY_REGION2(slot \(slot.slot))"
        _ = try Syscall.ioctl(fd.rawValue, CKVM_SET_USER_MEMORY_REGION2, &region, name)
    }

    /// Creates, or deletes (`memorySize == 0`), a memslot with the original
    /// interface, which every KVM has (memslots v2 arrived in Linux 6.8; arm64
    /// boards on 6.1 have only this). It cannot name a guest_memfd.
    /// The corresponding ioctl is `KVM_SET_USER_MEMORY_REGION`.
    public func setMemoryRegionV1(_ slot: MemorySlot) throws(KVMError) {
        var region = kvm_userspace_memory_region()
        region.slot = slot.slot
        region.flags = slot.flags.rawValue
        region.guest_phys_addr = slot.guestPhysicalAddress
        region.memory_size = slot.size
        region.userspace_addr = slot.userspaceAddress
        let name = slot.size == 0 ? "KVM_SET_USER_MEMORY_REGION(delete slot \(slot.slot))" : "KVM_SET_USER_MEMORY_REGION(slot \(slot.slot))"
        _ = try Syscall.ioctl(fd.rawValue, CKVM_SET_USER_MEMORY_REGION, &region, name)
    }

    /// Sets memory attributes for a GPA range.
    /// The corresponding ioctl is `KVM_SET_MEMORY_ATTRIBUTES`. Requires `KVM_CAP_MEMORY_ATTRIBUTES`.
    public func setMemoryAttributes(address: UInt64, size: UInt64, attributes: MemoryAttributes) throws(KVMError) {
        var request = ckvm_memory_attributes(address: address, size: size, attributes: attributes.rawValue, flags: 0)
        _ = try Syscall.ioctl(fd.rawValue, CKVM_SET_MEMORY_ATTRIBUTES, &request, "KVM_SET_MEMORY_ATTRIBUTES")
    }

    /// Sets a device attribute on the VM (arm64: the SMCCC filter).
    /// The corresponding ioctl is `KVM_SET_DEVICE_ATTR`.
    public func setDeviceAttribute(group: UInt32, attribute: UInt64, address: UnsafeMutableRawPointer) throws(KVMError) {
        var request = ckvm_device_attr(flags: 0, group: group, attr: attribute, addr: UInt64(UInt(bitPattern: address)))
        _ = try Syscall.ioctl(fd.rawValue, CKVM_SET_DEVICE_ATTR, &request, "KVM_SET_DEVICE_ATTR")
    }

    /// Creates vCPU `id` and maps its `kvm_run`. The corresponding ioctl is `KVM_CREATE_VCPU`.
    public func createVCPU(id: Int) throws(KVMError) -> VCPU {
        let result = try Syscall.ioctl(fd.rawValue, CKVM_CREATE_VCPU, value: UInt(id), "KVM_CREATE_VCPU(\(id))")
        let vcpuFD = OwnedFileDescriptor(Int32(result), kind: "kvm-vcpu:\(id)")
        let size = try system.vcpuMmapSize()
        let run = try HostMapping(length: size, protection: [.read, .write], fd: vcpuFD.rawValue, offset: 0, what: "kvm_run of vCPU \(id)")
        return VCPU(id: id, fd: vcpuFD, run: run)
    }
}
