import CKVM
import Glibc
@testable import KVM
import PVMHTestSupport
import Testing

/// The VM-fd ioctls, each with the name its error must carry.
enum VMOperation: String, CaseIterable, Sendable {
    case check = "KVM_CHECK_EXTENSION(KVM_CAP_GUEST_MEMFD)"
    case enable = "KVM_ENABLE_CAP(KVM_CAP_EXIT_HYPERCALL)"
    case createGuestMemfd = "KVM_CREATE_GUEST_MEMFD"
    case setMemoryRegion = "KVM_SET_USER_MEMORY_REGION2(slot 2)"
    case deleteMemoryRegion = "KVM_SET_USER_MEMORY_REGION2(delete slot 2)"
    case setMemoryAttributes = "KVM_SET_MEMORY_ATTRIBUTES"
    case setDeviceAttribute = "KVM_SET_DEVICE_ATTR"
    case createVCPU = "KVM_CREATE_VCPU(0)"

    func perform(on vm: VirtualMachine) throws(KVMError) {
        let slot = MemorySlot(slot: 2, flags: .guestMemfd, guestPhysicalAddress: 0, size: 4096, userspaceAddress: 0)
        switch self {
        case .check: _ = try vm.check(.guestMemfd)
        case .enable: try vm.enable(.exitHypercall, arguments: [1 << 12])
        case .createGuestMemfd: _ = try vm.createGuestMemfd(size: 4096, flags: [.mmap])
        case .setMemoryRegion: try vm.setMemoryRegion(slot)
        case .deleteMemoryRegion: try vm.setMemoryRegion(slot.deletion)
        case .setMemoryAttributes: try vm.setMemoryAttributes(address: 0, size: 4096, attributes: .private)
        case .setDeviceAttribute:
            var filter = ckvm_smccc_filter()
            try withUnsafeMutableBytes(of: &filter) { raw throws(KVMError) in
                try vm.setDeviceAttribute(group: 0, attribute: 0, address: raw.baseAddress!)
            }
        case .createVCPU: _ = try vm.createVCPU(id: 0)
        }
    }
}

/// Error paths of the VM and system wrappers. A VirtualMachine needs a
/// KVMSystem, which can only be made by opening a real /dev/kvm, so these
/// are gated like the hardware suite; the VM fd itself is /dev/null or closed.
@Suite("VM and system wrappers over a bad fd", .enabled(if: KVMGate.enabled, "needs read/write /dev/kvm"))
struct VirtualMachineErrorTests {
    @Test("VM ioctls throw their name and errno", arguments: VMOperation.allCases, BrokenFD.allCases)
    func vmOperation(_ operation: VMOperation, _ fd: BrokenFD) throws {
        let system = try KVMSystem(path: KVMGate.path)
        let vm = VirtualMachine(fd: try fd.make(kind: "kvm-vm"), system: system, type: .default)
        let error = #expect(throws: KVMError.self) { try operation.perform(on: vm) }
        #expect(error?.operation == operation.rawValue)
        #expect(error?.errno == fd.ioctlErrno)
        #expect(error?.description.contains(operation.rawValue) == true)
        #expect(error?.description.contains(Errno.name(fd.ioctlErrno)) == true)
    }

    @Test("guest_memfd creation on a kernel without it says so")
    func noGuestMemfdHint() throws {
        let system = try KVMSystem(path: KVMGate.path)
        let vm = VirtualMachine(fd: try BrokenFD.devNull.make(kind: "kvm-vm"), system: system, type: .default)
        let error = #expect(throws: KVMError.self) { try vm.createGuestMemfd(size: 4096, flags: [.mmap]) }
        #expect(error?.hint?.contains("no guest_memfd") == true)
    }

    @Test("system ioctls on a closed /dev/kvm throw EBADF with their names")
    func closedSystem() throws {
        let system = try KVMSystem(path: KVMGate.path)
        try system.fd.close()
        let cases: [(String, () throws(KVMError) -> Void)] = [
            ("KVM_GET_API_VERSION", { () throws(KVMError) in _ = try system.apiVersion() }),
            ("KVM_CHECK_EXTENSION(KVM_CAP_USER_MEMORY2)", { () throws(KVMError) in _ = try system.check(.userMemory2) }),
            ("KVM_GET_VCPU_MMAP_SIZE", { () throws(KVMError) in _ = try system.vcpuMmapSize() }),
            ("KVM_CREATE_VM(\(VMType.default))", { () throws(KVMError) in _ = try system.createVM() }),
        ]
        for (name, operation) in cases {
            let error = #expect(throws: KVMError.self, "\(name)") { try operation() }
            #expect(error?.operation == name)
            #expect(error?.errno == EBADF)
            #expect(error?.description.contains("EBADF") == true)
        }
    }

    @Test("an unsupported VM type is EINVAL with a hint naming the type")
    func unsupportedVMType() throws {
        let system = try KVMSystem(path: KVMGate.path)
        let types = VMType.fromBitmap(try system.check(.vmTypes))
        let absent = try #require([VMType.x86SNP, .x86TDX, VMType(rawValue: 60)].first { !types.contains($0) })
        let error = #expect(throws: KVMError.self) { try system.createVM(type: absent) }
        #expect(error?.operation == "KVM_CREATE_VM(\(absent))")
        #expect(error?.errno == EINVAL)
        #expect(error?.hint == "this kernel does not support \(absent)")
    }
}
