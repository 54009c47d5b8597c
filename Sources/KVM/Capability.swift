/// A KVM capability number (`KVM_CAP_*`). Unknown values round-trip and print
/// as numbers, so `pvmh probe` never hides what the kernel said.
public struct Capability: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let userMemory = Capability(rawValue: 3)
    public static let syncMMU = Capability(rawValue: 16)
    /// The most vCPUs one VM may have.
    public static let maxVCPUs = Capability(rawValue: 66)
    /// The register sets KVM can copy into `kvm_run` on every exit (x86:
    /// `KVM_SYNC_X86_REGS` 1, `SREGS` 2, `EVENTS` 4); 0 where absent.
    public static let syncRegs = Capability(rawValue: 74)
    public static let immediateExit = Capability(rawValue: 136)
    public static let armVMIPASize = Capability(rawValue: 165)
    public static let exitHypercall = Capability(rawValue: 201)
    public static let userMemory2 = Capability(rawValue: 231)
    public static let memoryFaultInfo = Capability(rawValue: 232)
    public static let memoryAttributes = Capability(rawValue: 233)
    public static let guestMemfd = Capability(rawValue: 234)
    public static let vmTypes = Capability(rawValue: 235)
    public static let guestMemfdFlags = Capability(rawValue: 244)
    /// Android common kernels only: `KVM_CAP_ARM_PROTECTED_VM` (0xffbadab1,
    /// far outside upstream's numbering). Answers 1 on a protected VM's fd;
    /// `KVM_ENABLE_CAP` with it sets the VM's firmware (Docs/kvm-abi.md,
    /// "Android's protected-VM ABI").
    public static let armProtectedVM = Capability(rawValue: Int32(bitPattern: 0xFFBA_DAB1))

    static let names: [Int32: String] = [
        3: "KVM_CAP_USER_MEMORY", 16: "KVM_CAP_SYNC_MMU", 66: "KVM_CAP_MAX_VCPUS", 74: "KVM_CAP_SYNC_REGS", 136: "KVM_CAP_IMMEDIATE_EXIT",
        165: "KVM_CAP_ARM_VM_IPA_SIZE", 201: "KVM_CAP_EXIT_HYPERCALL", 231: "KVM_CAP_USER_MEMORY2",
        232: "KVM_CAP_MEMORY_FAULT_INFO", 233: "KVM_CAP_MEMORY_ATTRIBUTES", 234: "KVM_CAP_GUEST_MEMFD",
        235: "KVM_CAP_VM_TYPES", 244: "KVM_CAP_GUEST_MEMFD_FLAGS", Int32(bitPattern: 0xFFBA_DAB1): "KVM_CAP_ARM_PROTECTED_VM",
    ]

    /// The capabilities `pvmh probe` reports, in order.
    public static let reported: [Capability] = [
        .userMemory2, .guestMemfd, .guestMemfdFlags, .memoryAttributes, .memoryFaultInfo,
        .vmTypes, .exitHypercall, .syncRegs, .immediateExit, .syncMMU,
    ]

    public var name: String { Capability.names[rawValue] ?? "KVM_CAP_\(rawValue)" }
    /// The number as `KVM_CHECK_EXTENSION` takes it: a C `long` holding the
    /// unsigned 32-bit value (0xffbadab1 must not sign-extend).
    public var extensionArgument: UInt { UInt(UInt32(bitPattern: rawValue)) }
    public var description: String { name }
}

/// A `KVM_CREATE_VM` machine type. Unknown values round-trip.
public struct VMType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }

    public static let `default` = VMType(rawValue: 0)
    /// x86: `KVM_X86_SW_PROTECTED_VM`.
    public static let x86SoftwareProtected = VMType(rawValue: 1)
    public static let x86SEV = VMType(rawValue: 2)
    public static let x86SEVES = VMType(rawValue: 3)
    public static let x86SNP = VMType(rawValue: 4)
    public static let x86TDX = VMType(rawValue: 5)
    /// arm64: `KVM_VM_TYPE_ARM_PROTECTED` (IPA size in bits 7:0 may be or-ed in).
    public static let armProtected = VMType(rawValue: 0x8000_0000)

    /// x86 `KVM_CAP_VM_TYPES` bit numbers and names.
    public static let x86Names: [UInt: String] = [
        0: "KVM_X86_DEFAULT_VM", 1: "KVM_X86_SW_PROTECTED_VM", 2: "KVM_X86_SEV_VM",
        3: "KVM_X86_SEV_ES_VM", 4: "KVM_X86_SNP_VM", 5: "KVM_X86_TDX_VM",
    ]

    /// Decodes the `KVM_CAP_VM_TYPES` bitmap.
    public static func fromBitmap(_ bitmap: Int) -> [VMType] {
        let bits = UInt(bitPattern: bitmap)
        return (0..<UInt(UInt.bitWidth)).filter { bits & (1 << $0) != 0 }.map { VMType(rawValue: $0) }
    }

    public var description: String {
        if self == .armProtected { return "KVM_VM_TYPE_ARM_PROTECTED" }
        #if arch(x86_64)
        return VMType.x86Names[rawValue] ?? "vm type \(rawValue)"
        #else
        return rawValue == 0 ? "default" : "vm type 0x\(String(rawValue, radix: 16))"
        #endif
    }
}

/// `GUEST_MEMFD_FLAG_*`.
public struct GuestMemfdFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// The fd may be mmap()ed (MAP_SHARED only).
    public static let mmap = GuestMemfdFlags(rawValue: 0x1)
    /// Memory starts shared: the host may fault it in.
    public static let initShared = GuestMemfdFlags(rawValue: 0x2)

    public var description: String {
        var parts: [String] = []
        if contains(.mmap) { parts.append("MMAP") }
        if contains(.initShared) { parts.append("INIT_SHARED") }
        let rest = rawValue & ~(GuestMemfdFlags.mmap.rawValue | GuestMemfdFlags.initShared.rawValue)
        if rest != 0 { parts.append("0x\(String(rest, radix: 16))") }
        return parts.isEmpty ? "none" : parts.joined(separator: "|")
    }
}

/// `KVM_MEMORY_ATTRIBUTE_*`.
public struct MemoryAttributes: OptionSet, Hashable, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static let `private` = MemoryAttributes(rawValue: 0x8)
}
