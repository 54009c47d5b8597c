import Glibc
import KVM
@_exported import Lifecycle

/// Real-/dev/kvm tests run where /dev/kvm opens, and also wherever
/// PVMH_REQUIRE_KVM=1 says they must (then a missing /dev/kvm fails them
/// loudly instead of skipping).
public enum KVMGate {
    public static let required = getenv("PVMH_REQUIRE_KVM").map { String(cString: $0) == "1" } ?? false
    public static let enabled = required || KVMSystem.isAvailable()
    public static let path = "/dev/kvm"

    /// Whether /dev/kvm opens and answers `capability` with a non-zero value.
    /// Tests that need one name it in their skip reason; PVMH_REQUIRE_KVM
    /// never forces these (a host may lack guest_memfd and still have KVM).
    public static func offers(_ capability: Capability) -> Bool {
        guard let system = try? KVMSystem(path: path) else { return false }
        defer { try? system.fd.close() }
        return ((try? system.check(capability)) ?? 0) > 0
    }

    /// guest_memfd with `MMAP|INIT_SHARED`, as the x86_64-gmem platform and
    /// the two-view tests need it (Linux 6.18+).
    public static let guestMemfd: Bool = {
        guard offers(.guestMemfd), let system = try? KVMSystem(path: path) else { return false }
        defer { try? system.fd.close() }
        let flags = GuestMemfdFlags(rawValue: UInt64((try? system.check(.guestMemfdFlags)) ?? 0))
        return flags.isSuperset(of: [.mmap, .initShared])
    }()
    public static let guestMemfdReason = "needs KVM_CAP_GUEST_MEMFD with flags MMAP|INIT_SHARED (Linux 6.18+); this host's KVM lacks it"

    /// `KVM_CAP_SYNC_REGS` with the general and special registers (x86:
    /// bits 0x1 and 0x2), as the x86 platform's synced register path needs them.
    public static let syncRegs: Bool = {
        guard let system = try? KVMSystem(path: path) else { return false }
        defer { try? system.fd.close() }
        return ((try? system.check(.syncRegs)) ?? 0) & 0x3 == 0x3
    }()
    public static let syncRegsReason = "needs KVM_CAP_SYNC_REGS with KVM_SYNC_X86_REGS|KVM_SYNC_X86_SREGS; this host's KVM lacks it"
}

/// ELF machine numbers used by the in-memory images.
public enum ELFMachine: UInt16 {
    case x86_64 = 62
    case aarch64 = 183
}

/// A minimal ELF64 executable with one R+X PT_LOAD holding `code` at
/// `address` (and, with `bssSize`, that many zero bytes after it, RW).
public func makeELF(machine: ELFMachine, code: [UInt8], address: UInt64, bssSize: UInt64 = 0) -> [UInt8] {
    var bytes: [UInt8] = []
    func u16(_ v: UInt16) { bytes += withUnsafeBytes(of: v.littleEndian, Array.init) }
    func u32(_ v: UInt32) { bytes += withUnsafeBytes(of: v.littleEndian, Array.init) }
    func u64(_ v: UInt64) { bytes += withUnsafeBytes(of: v.littleEndian, Array.init) }
    bytes += [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
    u16(2); u16(machine.rawValue); u32(1)   // ET_EXEC, machine, EV_CURRENT
    u64(address); u64(64); u64(0)           // entry, phoff, shoff
    u32(0); u16(64); u16(56); u16(1)        // flags, ehsize, phentsize, phnum
    u16(64); u16(0); u16(0)                 // shentsize, shnum, shstrndx
    let offset: UInt64 = 0x1000
    u32(1); u32(bssSize > 0 ? 7 : 5)        // PT_LOAD, R+X (+W with bss)
    u64(offset); u64(address); u64(address)
    u64(UInt64(code.count)); u64(UInt64(code.count) + bssSize); u64(0x1000)
    bytes += [UInt8](repeating: 0, count: Int(offset) - bytes.count)
    return bytes + code
}

/// Little-endian bytes of A64 instruction words.
public func a64(_ words: [UInt32]) -> [UInt8] {
    words.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
}
