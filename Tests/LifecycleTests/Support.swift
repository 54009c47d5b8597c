import Glibc
import GuestImage
import KVM
import Lifecycle

/// Real-/dev/kvm tests run where /dev/kvm opens, and also wherever
/// PVMH_REQUIRE_KVM=1 says they must (then a missing /dev/kvm fails them
/// loudly instead of skipping).
enum KVMGate {
    static let required = getenv("PVMH_REQUIRE_KVM").map { String(cString: $0) == "1" } ?? false
    static let enabled = required || KVMSystem.isAvailable()
}

/// A minimal x86_64 ELF64 executable with one R+X PT_LOAD at `address`.
func makeX86ELF(code: [UInt8], address: UInt64 = 0x100000) -> [UInt8] {
    var bytes: [UInt8] = []
    func u16(_ v: UInt16) { bytes += withUnsafeBytes(of: v.littleEndian, Array.init) }
    func u32(_ v: UInt32) { bytes += withUnsafeBytes(of: v.littleEndian, Array.init) }
    func u64(_ v: UInt64) { bytes += withUnsafeBytes(of: v.littleEndian, Array.init) }
    bytes += [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
    u16(2); u16(62); u32(1)            // ET_EXEC, EM_X86_64, EV_CURRENT
    u64(address); u64(64); u64(0)      // entry, phoff, shoff
    u32(0); u16(64); u16(56); u16(1)   // flags, ehsize, phentsize, phnum
    u16(64); u16(0); u16(0)            // shentsize, shnum, shstrndx
    let offset: UInt64 = 0x1000
    u32(1); u32(5)                     // PT_LOAD, R+X
    u64(offset); u64(address); u64(address)
    u64(UInt64(code.count)); u64(UInt64(code.count)); u64(0x1000)
    bytes += [UInt8](repeating: 0, count: Int(offset) - bytes.count)
    return bytes + code
}

/// 32-bit code: `jmp .` — a guest that never stops.
let spinForever: [UInt8] = [0xEB, 0xFE]
/// 32-bit code: `mov dword [0x40000000], 1` (outside RAM: an MMIO exit) then `hlt`.
let writeOutsideRAM: [UInt8] = [0xC7, 0x05, 0x00, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00, 0x00, 0xF4]

/// Collects notices from a lifecycle run.
final class NoticeLog: @unchecked Sendable {
    private var lock = pthread_mutex_t()
    private var items: [RunNotice] = []
    init() { pthread_mutex_init(&lock, nil) }
    func append(_ notice: RunNotice) {
        pthread_mutex_lock(&lock)
        items.append(notice)
        pthread_mutex_unlock(&lock)
    }
    var phases: [String] {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return items.compactMap { if case .phase(let p) = $0 { p } else { nil } }
    }
}
