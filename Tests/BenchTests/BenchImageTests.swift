import GuestImage
import Testing
@testable import Bench

@Suite("Bench guest images")
struct BenchImageTests {
    @Test("the x86_64 bench guest gets its mode and count patched into the PVMHBNCH block, and still parses")
    func x86Parameters() throws {
        let bytes = try BenchImages.x86Bench(mode: .rawExit, count: 0x0102_0304)
        let at = try #require(BenchImages.firstIndex(of: BenchImages.parameterMagic, in: bytes))
        #expect(Array(bytes[at + 8..<at + 16]) == [2, 0, 0, 0, 0x04, 0x03, 0x02, 0x01])
        let original = try #require(BuiltinGuest.named("x86_64-bench")).elfBytes
        #expect(bytes.count == original.count)
        #expect(zip(bytes, original).filter { $0 != $1 }.count <= 8, "only the parameter block changes")
        let image = try ELFImage(bytes: bytes, expecting: .x86_64)
        try image.validate(placement: 0, ramSize: 4 << 20, mmio: [])
    }

    @Test("the arm64 compute loop is a valid ELF at QEMU virt's image base and powers the model off")
    func arm64Loop() throws {
        let bytes = BenchImages.arm64ComputeLoop(iterations: 70_000)
        let image = try ELFImage(bytes: bytes, expecting: .aarch64)
        #expect(image.entry == ARM64GuestProtocol.imageBase)
        #expect(image.segments.count == 1)
        // movz/movk carry the two halves of the count.
        let words = stride(from: 0x1000, to: 0x1008, by: 4).map { offset in
            (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
        }
        #expect(words == [0xD280_0000 | (70_000 & 0xFFFF) << 5, 0xF2A0_0000 | (70_000 >> 16) << 5])
        let run = try ModelFigure.modelRun(bytes, name: "compute-loop")
        #expect(run.report.stopReasons[0] == .poweredOff)
    }

    @Test("the QEMU BIOS is 64 KiB with `mov al,0; out 0xf4,al` at the reset vector")
    func bios() {
        let image = BenchImages.qemuExitBIOS()
        #expect(image.count == 65_536)
        #expect(Array(image[0xFFF0..<0xFFF4]) == [0xB0, 0x00, 0xE6, 0xF4])
    }
}
