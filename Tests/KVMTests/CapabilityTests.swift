import KVM
import Testing

@Suite("capabilities, VM types and flags")
struct CapabilityTests {
    @Test("KVM_CAP_* numbers match Docs/kvm-abi.md", arguments: [
        (Capability.guestMemfd, Int32(234), "KVM_CAP_GUEST_MEMFD"),
        (.guestMemfdFlags, 244, "KVM_CAP_GUEST_MEMFD_FLAGS"),
        (.userMemory2, 231, "KVM_CAP_USER_MEMORY2"),
        (.memoryFaultInfo, 232, "KVM_CAP_MEMORY_FAULT_INFO"),
        (.memoryAttributes, 233, "KVM_CAP_MEMORY_ATTRIBUTES"),
        (.vmTypes, 235, "KVM_CAP_VM_TYPES"),
        (.exitHypercall, 201, "KVM_CAP_EXIT_HYPERCALL"),
    ])
    func capabilityNumber(_ capability: Capability, _ value: Int32, _ name: String) {
        #expect(capability.rawValue == value)
        #expect(capability.name == name)
        #expect(capability.description == name)
        #expect(Capability(rawValue: value) == capability)
    }

    @Test("an unknown capability round-trips and prints its number")
    func unknownCapability() {
        let unknown = Capability(rawValue: 9999)
        #expect(unknown.rawValue == 9999)
        #expect(unknown.name == "KVM_CAP_9999")
        #expect(Capability(rawValue: unknown.rawValue) == unknown)
        #expect(!Capability.reported.contains(unknown))
    }

    @Test("probe reports the guest_memfd capabilities")
    func reportedCapabilities() {
        for capability in [Capability.userMemory2, .guestMemfd, .guestMemfdFlags, .memoryAttributes, .vmTypes, .exitHypercall] {
            #expect(Capability.reported.contains(capability), "\(capability)")
        }
        #expect(Set(Capability.reported).count == Capability.reported.count)
    }

    @Test("GUEST_MEMFD_FLAG_* values and printing")
    func guestMemfdFlags() {
        #expect(GuestMemfdFlags.mmap.rawValue == 0x1)
        #expect(GuestMemfdFlags.initShared.rawValue == 0x2)
        #expect(GuestMemfdFlags([.mmap, .initShared]).rawValue == 0x3)
        #expect(GuestMemfdFlags([.mmap, .initShared]).description == "MMAP|INIT_SHARED")
        #expect(GuestMemfdFlags.mmap.description == "MMAP")
        #expect(GuestMemfdFlags([]).description == "none")
        // An unknown bit is kept and printed, never dropped.
        let odd = GuestMemfdFlags(rawValue: 0x1 | 1 << 63)
        #expect(odd.rawValue == 0x8000_0000_0000_0001)
        #expect(odd.description == "MMAP|0x8000000000000000")
    }

    @Test("KVM_MEMORY_ATTRIBUTE_PRIVATE is bit 3")
    func memoryAttributes() {
        #expect(MemoryAttributes.private.rawValue == 0x8)
        #expect(MemoryAttributes([]).rawValue == 0)
    }

    @Test("KVM_MEM_* memslot flags")
    func memslotFlags() {
        #expect(MemorySlot.Flags.logDirtyPages.rawValue == 0x1)
        #expect(MemorySlot.Flags.readOnly.rawValue == 0x2)
        #expect(MemorySlot.Flags.guestMemfd.rawValue == 0x4)
    }

    @Test("a memslot's deletion keeps slot and GPA and clears everything else")
    func memslotDeletion() {
        let slot = MemorySlot(slot: 3, flags: .guestMemfd, guestPhysicalAddress: 0x10_0000, size: 0x20_0000,
                              userspaceAddress: 0x7F00_0000_0000, guestMemfd: 9, guestMemfdOffset: 0x1000)
        let deletion = slot.deletion
        #expect(deletion == MemorySlot(slot: 3, flags: [], guestPhysicalAddress: 0x10_0000, size: 0,
                                       userspaceAddress: 0, guestMemfd: 0, guestMemfdOffset: 0))
    }

    @Test("VM type numbers match Docs/kvm-abi.md", arguments: [
        (VMType.default, UInt(0)), (.x86SoftwareProtected, 1), (.x86SEV, 2), (.x86SEVES, 3),
        (.x86SNP, 4), (.x86TDX, 5), (.armProtected, 0x8000_0000),
    ])
    func vmTypeNumber(_ type: VMType, _ value: UInt) {
        #expect(type.rawValue == value)
        #expect(VMType(rawValue: value) == type)
    }

    @Test("KVM_CAP_VM_TYPES bitmaps decode to bit numbers", arguments: [
        (0, [UInt]()),
        (0b1, [0]),
        (0b11, [0, 1]),
        (0b110101, [0, 2, 4, 5]),
        (1 << 40, [40]),
        (1 << 62 | 1, [0, 62]),
    ])
    func fromBitmap(_ bitmap: Int, _ bits: [UInt]) {
        #expect(VMType.fromBitmap(bitmap) == bits.map { VMType(rawValue: $0) })
    }

    @Test("VM types print their kernel names; unknown ones print their number")
    func vmTypeDescription() {
        #expect(VMType.armProtected.description == "KVM_VM_TYPE_ARM_PROTECTED")
        #if arch(x86_64)
        #expect(VMType.default.description == "KVM_X86_DEFAULT_VM")
        #expect(VMType.x86SoftwareProtected.description == "KVM_X86_SW_PROTECTED_VM")
        #expect(VMType.x86TDX.description == "KVM_X86_TDX_VM")
        #expect(VMType(rawValue: 17).description == "vm type 17")
        #else
        #expect(VMType.default.description == "default")
        #expect(VMType(rawValue: 17).description == "vm type 0x11")
        #endif
        let unknown = VMType.fromBitmap(1 << 17)
        #expect(unknown == [VMType(rawValue: 17)])
        #expect(unknown.first?.rawValue == 17)
    }
}
