import Testing
import Ownership

@Suite("GFNRange")
struct GFNRangeTests {
    @Test func endIsStartPlusCount() {
        let range = GFNRange(start: 0x100, count: 0x10)
        #expect(range.end == 0x110)
        #expect(GFNRange(start: 0x100, end: 0x110) == range)
        #expect(!range.isEmpty)
        #expect(GFNRange(start: 7, count: 0).isEmpty)
    }

    @Test(arguments: [
        (UInt64(0x0ff), false),
        (UInt64(0x100), true),
        (UInt64(0x10f), true),
        (UInt64(0x110), false),
    ])
    func containsIsHalfOpen(gfn: UInt64, inside: Bool) {
        #expect(GFNRange(start: 0x100, count: 0x10).contains(gfn) == inside)
    }

    @Test func descriptionIsHexHalfOpen() {
        #expect(GFNRange(start: 0x100, count: 0x10).description == "[0x100, 0x110)")
    }

    @Test func rangePastTheLastFrameIsNotRepresentableAndStillPrints() {
        let range = GFNRange(start: .max - 1, count: 4)
        #expect(!range.isRepresentable)
        #expect(range.contains(.max))
        #expect(!range.contains(0))
        #expect(range.description == "[0xfffffffffffffffe, 0xfffffffffffffffe + 0x4 pages, past the last frame)")
        #expect(GFNRange(start: .max - 1, count: 1).isRepresentable)
    }
}
