import Glibc
import GuestImage
import KVM
import Lifecycle
@_exported import PVMHTestSupport

/// A minimal x86_64 ELF64 executable with one R+X PT_LOAD at `address`.
func makeX86ELF(code: [UInt8], address: UInt64 = 0x100000) -> [UInt8] {
    makeELF(machine: .x86_64, code: code, address: address)
}

/// 32-bit code: `jmp .` — a guest that never stops.
let spinForever: [UInt8] = [0xEB, 0xFE]
/// 32-bit code: `mov dword [0x40000000], 1` (outside RAM: an MMIO exit) then `hlt`.
let writeOutsideRAM: [UInt8] = [0xC7, 0x05, 0x00, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00, 0x00, 0xF4]

/// Collects the events of a lifecycle run.
final class NoticeLog: @unchecked Sendable {
    private var lock = pthread_mutex_t()
    private var items: [LifecycleEvent] = []
    init() { pthread_mutex_init(&lock, nil) }
    func append(_ notice: LifecycleEvent) {
        pthread_mutex_lock(&lock)
        items.append(notice)
        pthread_mutex_unlock(&lock)
    }
    var all: [LifecycleEvent] {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return items
    }
    var phases: [String] {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return items.compactMap { if case .phase(let p) = $0 { p.rawValue } else { nil } }
    }
}
