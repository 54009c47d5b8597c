import GuestImage
import Testing

/// The malformed-image corpus (ELFBuilder.swift): every rule has an image,
/// and each image fails with exactly its rule. PVMHTests runs the same
/// corpus through `pvmh run` (exit 2, one sentence).
@Suite("ELF64 loader: the malformed-image corpus")
struct MalformedCorpusTests {
    @Test("each malformed image fails with its rule", arguments: MalformedImage.corpus)
    func failsWithItsRule(_ image: MalformedImage) {
        #expect(throws: image.expected) { try Self.load(image) }
    }

    @Test("the corpus covers every rule ELFError has")
    func coversEveryRule() {
        let covered = Set(MalformedImage.corpus.map { ELFErrorKind.of($0.expected) })
        #expect(covered == Set(ELFErrorKind.all), "rules without an image: \(Set(ELFErrorKind.all).subtracting(covered).sorted())")
        #expect(ELFErrorKind.all.count == Set(ELFErrorKind.all).count)
    }

    /// Loads an image the way its stage says (what `pvmh run` does).
    static func load(_ image: MalformedImage) throws(ELFError) {
        switch image.stage {
        case .parse(let expecting):
            _ = try ELFImage(bytes: image.bytes, expecting: expecting)
        case .placement(let ramStart, let ramSize, let mmio):
            let parsed = try ELFImage(bytes: image.bytes, expecting: image.architecture)
            try parsed.validate(placement: ramStart, ramSize: ramSize, mmio: mmio)
        case .flat(let loadAddress, let machine):
            _ = try ELFImage(flat: image.bytes, loadAddress: loadAddress, machine: machine)
        }
    }
}

@Suite("flat binaries")
struct FlatImageTests {
    @Test("a flat binary becomes one RWX segment at the load address, entered at its first byte")
    func flatImage() throws {
        let code: [UInt8] = [0x1F, 0x20, 0x03, 0xD5, 0x00, 0x00, 0x00, 0x14]
        let image = try ELFImage(flat: code, loadAddress: 0x4008_0000, machine: .aarch64)
        #expect(image.machine == .aarch64)
        #expect(image.entry == 0x4008_0000)
        #expect(image.segments.count == 1)
        #expect(image.segments[0].fileBytes == code)
        #expect(image.segments[0].guestPhysicalRange == 0x4008_0000..<0x4008_0008)
        #expect(image.segments[0].flags.description == "RWX")
        try image.validate(placement: 0x4000_0000, ramSize: 4 << 20, mmio: MalformedImage.arm64MMIO)
    }

    @Test("x86 code may start at any byte; A64 code only on a 4-byte boundary")
    func alignment() throws {
        #expect(try ELFImage(flat: [0xF4], loadAddress: 0x10_0001, machine: .x86_64).entry == 0x10_0001)
        #expect(throws: ELFError.misalignedEntry(entry: 0x4008_0002, machine: .aarch64)) {
            try ELFImage(flat: [0, 0, 0, 0], loadAddress: 0x4008_0002, machine: .aarch64)
        }
    }

    @Test("placement: a flat binary over the UART is refused as overlapping MMIO, not as outside RAM")
    func mmioFirst() throws {
        let image = try ELFImage(flat: [0, 0, 0, 0], loadAddress: 0x0900_0000, machine: .aarch64)
        #expect(throws: ELFError.segmentOverlapsMMIO(index: 0, range: 0x0900_0000..<0x0900_0004, mmio: MalformedImage.arm64MMIO[0])) {
            try image.validate(placement: 0x4000_0000, ramSize: 4 << 20, mmio: MalformedImage.arm64MMIO)
        }
    }
}
