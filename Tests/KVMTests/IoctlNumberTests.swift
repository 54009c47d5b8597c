import CKVM
import Testing

/// One ioctl request number: what CKVM exports (built from its struct layouts
/// with the kernel's _IO/_IOR/_IOW macros) and what Docs/kvm-abi.md says the
/// Linux 7.3 uapi computes.
struct IoctlNumber: Sendable, CustomTestStringConvertible {
    var name: String
    var exported: UInt
    var documented: UInt
    var testDescription: String { name }
}

private let generic: [IoctlNumber] = [
    IoctlNumber(name: "KVM_GET_API_VERSION", exported: CKVM_GET_API_VERSION, documented: 0xAE00),
    IoctlNumber(name: "KVM_CREATE_VM", exported: CKVM_CREATE_VM, documented: 0xAE01),
    IoctlNumber(name: "KVM_CHECK_EXTENSION", exported: CKVM_CHECK_EXTENSION, documented: 0xAE03),
    IoctlNumber(name: "KVM_GET_VCPU_MMAP_SIZE", exported: CKVM_GET_VCPU_MMAP_SIZE, documented: 0xAE04),
    IoctlNumber(name: "KVM_CREATE_VCPU", exported: CKVM_CREATE_VCPU, documented: 0xAE41),
    IoctlNumber(name: "KVM_RUN", exported: CKVM_RUN, documented: 0xAE80),
    IoctlNumber(name: "KVM_GET_MP_STATE", exported: CKVM_GET_MP_STATE, documented: 0x8004AE98),
    // _IOW(KVMIO, 0xa3, struct kvm_enable_cap): 104-byte argument.
    IoctlNumber(name: "KVM_ENABLE_CAP", exported: CKVM_ENABLE_CAP, documented: 0x4068_AEA3),
    IoctlNumber(name: "KVM_SET_USER_MEMORY_REGION", exported: CKVM_SET_USER_MEMORY_REGION, documented: 0x4020_AE46),
    IoctlNumber(name: "KVM_SET_USER_MEMORY_REGION2", exported: CKVM_SET_USER_MEMORY_REGION2, documented: 0x40A0_AE49),
    IoctlNumber(name: "KVM_CREATE_GUEST_MEMFD", exported: CKVM_CREATE_GUEST_MEMFD, documented: 0xC040_AED4),
    IoctlNumber(name: "KVM_SET_MEMORY_ATTRIBUTES", exported: CKVM_SET_MEMORY_ATTRIBUTES, documented: 0x4020_AED2),
    IoctlNumber(name: "KVM_SET_DEVICE_ATTR", exported: CKVM_SET_DEVICE_ATTR, documented: 0x4018_AEE1),
    IoctlNumber(name: "KVM_ARM_PREFERRED_TARGET", exported: CKVM_ARM_PREFERRED_TARGET, documented: 0x8020_AEAF),
    IoctlNumber(name: "KVM_ARM_VCPU_INIT", exported: CKVM_ARM_VCPU_INIT, documented: 0x4020_AEAE),
    IoctlNumber(name: "KVM_GET_ONE_REG", exported: CKVM_GET_ONE_REG, documented: 0x4010_AEAB),
    IoctlNumber(name: "KVM_SET_ONE_REG", exported: CKVM_SET_ONE_REG, documented: 0x4010_AEAC),
]

#if arch(x86_64)
private let x86: [IoctlNumber] = [
    IoctlNumber(name: "KVM_GET_REGS", exported: CKVM_GET_REGS, documented: 0x8090_AE81),
    IoctlNumber(name: "KVM_SET_REGS", exported: CKVM_SET_REGS, documented: 0x4090_AE82),
    IoctlNumber(name: "KVM_GET_SREGS", exported: CKVM_GET_SREGS, documented: 0x8138_AE83),
    IoctlNumber(name: "KVM_SET_SREGS", exported: CKVM_SET_SREGS, documented: 0x4138_AE84),
    IoctlNumber(name: "KVM_GET_SUPPORTED_CPUID", exported: CKVM_GET_SUPPORTED_CPUID, documented: 0xC008_AE05),
    IoctlNumber(name: "KVM_SET_CPUID2", exported: CKVM_SET_CPUID2, documented: 0x4008_AE90),
]
#else
private let x86: [IoctlNumber] = []
#endif

@Suite("ioctl request numbers")
struct IoctlNumberTests {
    @Test("CKVM exports the documented number", arguments: generic + x86)
    func matchesDocumentation(_ ioctl: IoctlNumber) {
        #expect(ioctl.exported == ioctl.documented,
                "\(ioctl.name) is 0x\(String(ioctl.exported, radix: 16, uppercase: true)), Docs/kvm-abi.md says 0x\(String(ioctl.documented, radix: 16, uppercase: true))")
    }

    /// The size field of an _IOC number (bits 29:16) is the argument struct's
    /// size, so a drifting Swift-visible layout and a stale number cannot agree by accident.
    @Test("the size encoded in each _IOW/_IOR number is the struct's size")
    func encodedSizes() {
        func encodedSize(_ request: UInt) -> Int { Int((request >> 16) & 0x3FFF) }
        #expect(encodedSize(CKVM_CREATE_GUEST_MEMFD) == MemoryLayout<ckvm_create_guest_memfd>.size)
        #expect(encodedSize(CKVM_SET_USER_MEMORY_REGION2) == MemoryLayout<ckvm_userspace_memory_region2>.size)
        #expect(encodedSize(CKVM_SET_MEMORY_ATTRIBUTES) == MemoryLayout<ckvm_memory_attributes>.size)
        #expect(encodedSize(CKVM_ENABLE_CAP) == MemoryLayout<ckvm_enable_cap>.size)
        #expect(encodedSize(CKVM_SET_DEVICE_ATTR) == MemoryLayout<ckvm_device_attr>.size)
        #expect(encodedSize(CKVM_ARM_VCPU_INIT) == MemoryLayout<ckvm_vcpu_init>.size)
        #expect(encodedSize(CKVM_ARM_PREFERRED_TARGET) == MemoryLayout<ckvm_vcpu_init>.size)
        #expect(encodedSize(CKVM_GET_ONE_REG) == MemoryLayout<ckvm_one_reg>.size)
        #expect(encodedSize(CKVM_SET_ONE_REG) == MemoryLayout<ckvm_one_reg>.size)
        #expect(encodedSize(CKVM_RUN) == 0)
        #expect(encodedSize(CKVM_CREATE_VM) == 0)
    }
}
