import Glibc
@testable import KVM
import Testing

/// `lseek(SEEK_DATA/SEEK_HOLE)` on a memfd: what the full zero check after
/// reclaim trusts for holes. No /dev/kvm needed.
@Suite("memfd data extents")
struct DataExtentTests {
    static let page: UInt64 = 4096

    @Test("written pages are data; punched and never-written pages are holes")
    func extentsFollowAllocationAndPunching() throws {
        let file = try SharedMemoryFile(size: 16 * Self.page)
        defer { try? file.fd.close() }
        #expect(try file.dataExtents(in: 0..<file.size) == [], "a fresh memfd is all hole")
        // Preallocated but never written pages may be reported either way
        // (both read zero); written ones are data.
        var byte: UInt8 = 0x5A
        for page in 0..<16 { #expect(pwrite(file.fd.rawValue, &byte, 1, off_t(UInt64(page) * Self.page + 7)) == 1) }
        #expect(try file.dataExtents(in: 0..<file.size) == [0..<file.size])
        try file.punchHole(offset: 2 * Self.page, length: 3 * Self.page)
        try file.punchHole(offset: 15 * Self.page, length: Self.page)
        #expect(try file.dataExtents(in: 0..<file.size) == [0..<2 * Self.page, 5 * Self.page..<15 * Self.page])
        #expect(try file.dataExtents(in: 3 * Self.page..<8 * Self.page) == [5 * Self.page..<8 * Self.page], "clipped to the range asked")
        #expect(try file.dataExtents(in: 2 * Self.page..<5 * Self.page) == [])
    }

    @Test("a file that cannot seek names lseek and the errno")
    func seekOnAPipeFails() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        close(ends[1])
        let file = GuestMemfd(fd: OwnedFileDescriptor(ends[0], kind: "pipe"), size: 8192, flags: [])
        defer { try? file.fd.close() }
        let error = #expect(throws: KVMError.self) { try file.dataExtents(in: 0..<8192) }
        #expect(error?.operation == "lseek(SEEK_DATA) on guest_memfd")
        #expect(error?.errno == ESPIPE)
    }
}
