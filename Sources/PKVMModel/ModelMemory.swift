import A64
import Glibc

/// Guest RAM of the model: one anonymous mapping, reached by the guest only
/// through `GuestBus` (stage-2 checks) and by the host only through the
/// platform's owner-table checks.
// @unchecked: raw guest memory; vCPU threads reach it only through GuestBus under the
// stage-2 checks, the host only through the owner table, so no two touch a byte at once.
final class ModelMemory: @unchecked Sendable {
    let base: UInt64
    let size: UInt64
    let pageSize: UInt64
    private(set) var pointer: UnsafeMutableRawPointer?

    init(base: UInt64, size: UInt64, pageSize: UInt64) throws(ModelError) {
        guard let mapped = mmap(nil, Int(size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
              mapped != MAP_FAILED else {
            throw ModelError("cannot allocate \(size >> 20) MiB of model guest memory: \(String(cString: strerror(errno))); use a smaller --memory")
        }
        pointer = mapped
        self.base = base
        self.size = size
        self.pageSize = pageSize
    }

    deinit { free() }

    var isAllocated: Bool { pointer != nil }

    func free() {
        if let pointer { munmap(pointer, Int(size)) }
        pointer = nil
    }

    @inline(__always)
    func contains(_ address: UInt64, _ length: UInt64 = 1) -> Bool {
        address >= base && address - base < size && size - (address - base) >= length
    }

    /// Zeroes page `index` the way the hypervisor scrubs on reclaim; the
    /// kernel gets fresh zero pages (MADV_DONTNEED), not a userspace memset.
    func zeroPage(_ index: Int) {
        guard let pointer else { return }
        madvise(pointer + index * Int(pageSize), Int(pageSize), MADV_DONTNEED)
    }

    func bytes(at address: UInt64, count: Int) -> [UInt8] {
        guard let pointer else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer + Int(address - base), count: count))
    }

    func write(_ bytes: [UInt8], at address: UInt64) {
        guard let pointer else { return }
        bytes.withUnsafeBytes { (pointer + Int(address - base)).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }
}

/// The guest's view of physical memory: RAM pages its stage-2 maps; any
/// other address faults to the VMM (MMIO) or is a stage-2 fault.
struct GuestBus: A64Bus {
    let memory: UnsafeMutableRawPointer
    let base: UInt64
    let size: UInt64
    let pageShift: UInt64
    let table: HypPageTable

    @inline(__always)
    private func check(_ address: UInt64, _ size: Int) throws(A64BusFault) -> Int {
        let offset = address &- base
        guard address >= base, offset < self.size, self.size - offset >= UInt64(size) else { throw A64BusFault(address: address) }
        // An access may straddle two pages only if both are mapped.
        let first = Int(offset >> pageShift), last = Int((offset + UInt64(size) - 1) >> pageShift)
        guard table.guestMayAccess(index: first), first == last || table.guestMayAccess(index: last) else {
            throw A64BusFault(address: address)
        }
        return Int(offset)
    }

    func read(_ address: UInt64, size: Int) throws(A64BusFault) -> UInt64 {
        let offset = try check(address, size)
        let p = memory + offset
        switch size {
        case 1: return UInt64(p.load(as: UInt8.self))
        case 2: return UInt64(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
        case 4: return UInt64(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
        default: return UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))
        }
    }

    func write(_ address: UInt64, size: Int, value: UInt64) throws(A64BusFault) {
        let offset = try check(address, size)
        let p = memory + offset
        switch size {
        case 1: p.storeBytes(of: UInt8(truncatingIfNeeded: value), as: UInt8.self)
        case 2: p.storeBytes(of: UInt16(truncatingIfNeeded: value).littleEndian, as: UInt16.self)
        case 4: p.storeBytes(of: UInt32(truncatingIfNeeded: value).littleEndian, as: UInt32.self)
        default: p.storeBytes(of: value.littleEndian, as: UInt64.self)
        }
    }

    func fetch(_ address: UInt64) throws(A64BusFault) -> UInt32 {
        UInt32(truncatingIfNeeded: try read(address, size: 4))
    }
}

/// A model failure, one sentence.
public struct ModelError: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
