import Glibc
import KVM
import Lifecycle
import Ownership
@testable import Platforms
import Testing

/// The full zero check after reclaim on a memfd-backed guest RAM: holes are
/// counted without a read, data extents are read and scanned, and a page
/// reclaim did not discard is named. Needs /dev/kvm only to make the VM the
/// memory belongs to.
@Suite("zero check on two-view guest RAM", .enabled(if: KVMGate.enabled, "needs read/write /dev/kvm (PVMH_REQUIRE_KVM=1 makes this a failure)"))
struct ZeroCheckTests {
    static let page: UInt64 = 4096

    @Test("punched ranges count as holes; a page left with data is read back and named")
    func holesAndLeftoverData() throws {
        let vm = try KVMSystem(path: KVMGate.path).createVM()
        let ram = GuestRAM(base: 0x10_0000, size: 64 * Self.page)
        let memory = try TwoViewGuestRAM(vm: vm, ram: ram, backing: .memfd(memslotsV2: false))
        let first = ram.base / Self.page
        // The guest wrote to pages 3, 40 and 41; pages 40..47 hold a zero-filled write too.
        for gfn in [first + 3, first + 40, first + 41] { try #require(memory.hostAddress(of: gfn * Self.page + 9)).storeBytes(of: 0x77, as: UInt8.self) }
        for offset in stride(from: 42, to: 48, by: 1) { try #require(memory.hostAddress(of: (first + UInt64(offset)) * Self.page)).storeBytes(of: 0, as: UInt8.self) }
        // Reclaim discards pages 0..<32 only: a host bug that skips a range.
        try memory.reclaim(formerlyPrivate: [GFNRange(start: first, count: 32)])
        let check = memory.checkZero([ram.gfns])
        #expect(check.pages == 64)
        #expect(check.failedPages == 2)
        #expect(check.violations == [.notZeroAfterReclaim(gfn: first + 40, offset: 9, byte: 0x77),
                                     .notZeroAfterReclaim(gfn: first + 41, offset: 9, byte: 0x77)])
        #expect(check.bytesRead == 8 * Self.page, "only the data extent 40..<48 is read")
        #expect(check.holePages == 56)
        try memory.release()
    }
}

@Suite("zero check: scanning")
struct ZeroScanTests {
    @Test("the word-wise scan finds the first non-zero byte anywhere in a page")
    func scanFindsEveryOffset() {
        for offset in [0, 7, 8, 4095] {
            var bytes = [UInt8](repeating: 0, count: 8192)
            bytes[4096 + offset] = 1
            var check = ZeroCheck()
            bytes.withUnsafeBytes { check.scan($0, from: 0x40, pageSize: 4096) }
            #expect(check.pages == 2 && check.bytesRead == 8192)
            #expect(check.violations == [.notZeroAfterReclaim(gfn: 0x41, offset: offset, byte: 1)])
        }
    }
}

@Suite("zero check: pages the hypervisor never took")
struct ZeroHostDataTests {
    @Test("a non-zero page the hypervisor never took is host data; a taken one is a leak")
    func neverTakenPagesAreHostData() {
        var bytes = [UInt8](repeating: 0, count: 3 * 4096)
        bytes[5] = 0xC2             // gfn 0x80: never taken, holds the host's image bytes
        bytes[4096 + 17] = 0x33     // gfn 0x81: donated, must have been zeroed
        var check = ZeroCheck()
        bytes.withUnsafeBytes { check.scan($0, from: 0x80, pageSize: 4096, neverTaken: { $0 == 0x80 }) }
        #expect(check.pages == 3)
        #expect(check.hostDataPages == 1)
        #expect(check.failedPages == 1)
        #expect(check.verifiedPages == 1)
        #expect(check.violations == [.notZeroAfterReclaim(gfn: 0x81, offset: 17, byte: 0x33)])
    }
}
