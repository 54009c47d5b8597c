import Glibc
import System
import Testing

/// /proc/self/maps read back: what mprotect really left, the source of the
/// VMM-enforced platforms' end-of-run agreement.
@Suite("the kernel's record of this process's mappings")
struct ProcessMappingsTests {
    @Test("an mprotect splits a mapping, and the regions say which part is readable")
    func mprotectIsVisible() throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let base = try #require(mmap(nil, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        defer { munmap(base, 4 * page) }
        #expect(mprotect(base + page, 2 * page, PROT_NONE) == 0)
        let start = UInt(bitPattern: base)
        let regions = try #require(ProcessMappings.regions(overlapping: start..<start + UInt(4 * page)))
        let open = regions.filter(\.readable).reduce(0) { $0 + $1.range.count }
        let closed = regions.filter { !$0.readable }.reduce(0) { $0 + $1.range.count }
        #expect(open == 2 * page && closed == 2 * page, "\(regions)")
        #expect(regions.first { !$0.readable }?.range == start + UInt(page)..<start + UInt(3 * page))
        #expect(regions.allSatisfy { $0.range.lowerBound >= start && $0.range.upperBound <= start + UInt(4 * page) })
    }
}
