import Testing
import GuestImage

/// Parses `builder`'s bytes, expecting x86_64 unless told otherwise.
private func parse(_ builder: ELFBuilder, expecting: GuestArchitecture? = .x86_64) throws(ELFError) -> ELFImage {
    try ELFImage(bytes: builder.bytes(), expecting: expecting)
}

@Suite("ELF64 loader: a valid image")
struct ELFImageParsingTests {
    @Test("a crafted executable parses into its PT_LOAD segments")
    func validImage() throws {
        var builder = ELFBuilder()
        builder.segments = [
            .init(flags: 5, physicalAddress: 0x10_0000, data: [0xF4, 0xEB, 0xFD]),
            .init(type: 4, flags: 4, physicalAddress: 0, data: [1, 2, 3, 4]),     // PT_NOTE: ignored
            .init(flags: 6, physicalAddress: 0x10_1000, virtualAddress: 0xFFFF_8000_0010_1000,
                  data: [7, 7], memorySize: 0x1000),
        ]
        let image = try parse(builder)
        #expect(image.machine == .x86_64)
        #expect(image.entry == 0x10_0000)
        #expect(image.segments.count == 2)

        let code = image.segments[0]
        #expect(code.index == 0)
        #expect(code.guestPhysicalAddress == 0x10_0000)
        #expect(code.fileBytes == [0xF4, 0xEB, 0xFD])
        #expect(code.flags == [.readable, .executable])
        #expect(code.flags.description == "R-X")
        #expect(code.zeroFillSize == 0)

        let data = image.segments[1]
        #expect(data.index == 2)
        #expect(data.guestPhysicalAddress == 0x10_1000, "loads at p_paddr, not p_vaddr")
        #expect(data.virtualAddress == 0xFFFF_8000_0010_1000)
        #expect(data.fileBytes == [7, 7])
        #expect(data.memorySize == 0x1000)
        #expect(data.zeroFillSize == 0x1000 - 2)
        #expect(data.guestPhysicalRange == 0x10_1000..<0x10_2000)
        #expect(data.flags.description == "RW-")

        #expect(image.guestPhysicalExtent == 0x10_0000..<0x10_2000)
    }

    @Test("without an expected architecture any known machine is accepted")
    func anyKnownMachine() throws {
        var builder = ELFBuilder()
        builder.machine = 183
        #expect(try parse(builder, expecting: nil).machine == .aarch64)
        #expect(try parse(builder, expecting: .aarch64).machine == .aarch64)
    }

    @Test("a PT_LOAD with p_memsz 0 loads nothing and is left out")
    func emptySegmentSkipped() throws {
        var builder = ELFBuilder()
        builder.segments.append(.init(flags: 6, physicalAddress: 0x10_0000, data: []))
        #expect(try parse(builder).segments.count == 1)
    }
}

@Suite("ELF64 loader: one rejected image per rule")
struct ELFValidationTests {
    @Test("bad magic: not ELF")
    func badMagic() {
        var builder = ELFBuilder()
        builder.magic = [0x7F, 0x45, 0x4C, 0x47]
        #expect(throws: ELFError.notELF) { try parse(builder) }
        #expect(throws: ELFError.notELF) { try ELFImage(bytes: [0x7F, 0x45], expecting: nil) }
        #expect(throws: ELFError.notELF) { try ELFImage(bytes: [], expecting: nil) }
    }

    @Test("EI_CLASS 1: not 64-bit")
    func not64Bit() {
        var builder = ELFBuilder()
        builder.elfClass = 1
        builder.truncateTo = 52    // an ELF32 header's size: still "not 64-bit", not "truncated"
        #expect(throws: ELFError.not64Bit(elfClass: 1)) { try parse(builder) }
    }

    @Test("EI_DATA 2: not little-endian")
    func bigEndian() {
        var builder = ELFBuilder()
        builder.dataEncoding = 2
        #expect(throws: ELFError.notLittleEndian(dataEncoding: 2)) { try parse(builder) }
    }

    @Test("file ends inside the ELF header")
    func truncatedHeader() {
        var builder = ELFBuilder()
        builder.truncateTo = 40
        #expect(throws: ELFError.truncatedHeader(fileSize: 40)) { try parse(builder) }
        builder.truncateTo = 5
        #expect(throws: ELFError.truncatedHeader(fileSize: 5)) { try parse(builder) }
    }

    @Test("EI_VERSION or e_version other than 1")
    func unsupportedVersion() {
        var builder = ELFBuilder()
        builder.identVersion = 0
        #expect(throws: ELFError.unsupportedVersion(0)) { try parse(builder) }
        builder = ELFBuilder()
        builder.version = 2
        #expect(throws: ELFError.unsupportedVersion(2)) { try parse(builder) }
    }

    @Test("ET_DYN or ET_REL: not an executable")
    func notExecutable() {
        var builder = ELFBuilder()
        builder.type = 3
        #expect(throws: ELFError.notExecutable(type: 3)) { try parse(builder) }
        builder.type = 1
        #expect(throws: ELFError.notExecutable(type: 1)) { try parse(builder) }
    }

    @Test("e_machine pvmh has no guests for (EM_ARM)")
    func unsupportedMachine() {
        var builder = ELFBuilder()
        builder.machine = 40
        #expect(throws: ELFError.unsupportedMachine(40)) { try parse(builder, expecting: nil) }
    }

    @Test("x86_64 image where an aarch64 VM expects its own")
    func wrongMachine() {
        #expect(throws: ELFError.wrongMachine(found: .x86_64, expected: .aarch64)) {
            try parse(ELFBuilder(), expecting: .aarch64)
        }
    }

    @Test("e_phentsize other than 56")
    func badProgramHeaderSize() {
        var builder = ELFBuilder()
        builder.programHeaderEntrySize = 32
        #expect(throws: ELFError.badProgramHeaderSize(32)) { try parse(builder) }
    }

    @Test("absurd e_phnum (PN_XNUM)")
    func tooManyProgramHeaders() {
        var builder = ELFBuilder()
        builder.programHeaderCount = 0xFFFF
        #expect(throws: ELFError.tooManyProgramHeaders(0xFFFF)) { try parse(builder) }
    }

    @Test("program header table past the end of the file, including offset overflow")
    func truncatedProgramHeaders() {
        var builder = ELFBuilder()
        let fileSize = builder.bytes().count
        builder.programHeaderOffset = UInt64(fileSize - 20)
        #expect(throws: ELFError.truncatedProgramHeaders(offset: UInt64(fileSize - 20), count: 1, fileSize: fileSize)) {
            try parse(builder)
        }
        builder.programHeaderOffset = UInt64.max - 8
        #expect(throws: ELFError.truncatedProgramHeaders(offset: UInt64.max - 8, count: 1, fileSize: fileSize)) {
            try parse(builder)
        }
        builder = ELFBuilder()
        builder.programHeaderCount = 3         // only one is there
        #expect(throws: ELFError.truncatedProgramHeaders(offset: 64, count: 3, fileSize: fileSize)) {
            try parse(builder)
        }
    }

    @Test("segment file bytes past the end of the file, including offset overflow")
    func truncatedSegment() {
        var builder = ELFBuilder()
        builder.segments[0].fileSize = 1000
        builder.segments[0].memorySize = 1000
        let fileSize = builder.bytes().count
        #expect(throws: ELFError.truncatedSegment(index: 0, offset: 120, fileBytes: 1000, fileSize: fileSize)) {
            try parse(builder)
        }
        builder = ELFBuilder()
        builder.segments[0].offset = UInt64.max - 4
        let overflow = ELFError.truncatedSegment(index: 0, offset: UInt64.max - 4, fileBytes: 16, fileSize: fileSize)
        #expect(throws: overflow) { try parse(builder) }
    }

    @Test("p_filesz larger than p_memsz")
    func fileSizeExceedsMemorySize() {
        var builder = ELFBuilder()
        builder.segments[0].memorySize = 8
        #expect(throws: ELFError.fileSizeExceedsMemorySize(index: 0, fileBytes: 16, memorySize: 8)) {
            try parse(builder)
        }
    }

    @Test("p_paddr + p_memsz past 2^64")
    func segmentAddressOverflow() {
        var builder = ELFBuilder()
        builder.segments[0].physicalAddress = UInt64.max - 4
        #expect(throws: ELFError.segmentAddressOverflow(index: 0, address: UInt64.max - 4, memorySize: 16)) {
            try parse(builder)
        }
    }

    @Test("two PT_LOADs over the same guest physical bytes")
    func overlappingSegments() {
        var builder = ELFBuilder()
        builder.segments.append(.init(flags: 6, physicalAddress: 0x10_0008, data: [1, 2], memorySize: 0x100))
        #expect(throws: ELFError.overlappingSegments(
            first: 0, firstRange: 0x10_0000..<0x10_0010, second: 1, secondRange: 0x10_0008..<0x10_0108)
        ) {
            try parse(builder)
        }
        // Adjacent is fine.
        builder.segments[1].physicalAddress = 0x10_0010
        #expect(throws: Never.self) { try parse(builder) }
    }

    @Test("no PT_LOAD: no program headers, only a PT_NOTE, or only empty PT_LOADs")
    func noLoadSegment() {
        var builder = ELFBuilder()
        builder.segments = []
        #expect(throws: ELFError.noLoadSegment) { try parse(builder) }
        builder.segments = [.init(type: 4)]
        #expect(throws: ELFError.noLoadSegment) { try parse(builder) }
        builder.segments = [.init(data: [])]
        #expect(throws: ELFError.noLoadSegment) { try parse(builder) }
    }

    @Test("entry outside code: past every segment, in a data segment, in a zero-filled tail")
    func entryOutsideExecutableSegment() {
        var builder = ELFBuilder()
        builder.entry = 0x20_0000
        #expect(throws: ELFError.entryOutsideExecutableSegment(entry: 0x20_0000)) { try parse(builder) }

        builder = ELFBuilder()
        builder.segments[0].flags = 6
        #expect(throws: ELFError.entryOutsideExecutableSegment(entry: 0x10_0000)) { try parse(builder) }

        builder = ELFBuilder()
        builder.segments[0].memorySize = 0x100
        builder.entry = 0x10_0010
        #expect(throws: ELFError.entryOutsideExecutableSegment(entry: 0x10_0010)) { try parse(builder) }
    }
}

@Suite("ELF64 loader: placement in a VM's memory map")
struct ELFPlacementTests {
    /// Code at 0x100000 (16 bytes) and data at 0x101000 (0x1000 bytes).
    private func image() throws -> ELFImage {
        var builder = ELFBuilder()
        builder.segments.append(.init(flags: 6, physicalAddress: 0x10_1000, data: [1], memorySize: 0x1000))
        return try parse(builder)
    }

    @Test("segments inside RAM and clear of MMIO")
    func fits() throws {
        let image = try image()
        try image.validate(placement: 0, ramSize: 0x20_0000, mmio: [0x20_0000..<0x20_1000])
        try image.validate(placement: 0x10_0000, ramSize: 0x2000, mmio: [0x10_2000..<0x10_3000])
    }

    @Test("a segment below, or reaching past, guest RAM")
    func outsideRAM() throws {
        let image = try image()
        #expect(throws: ELFError.segmentOutsideRAM(
            index: 0, range: 0x10_0000..<0x10_0010, ramStart: 0x10_0001, ramSize: 0x10_0000)
        ) {
            try image.validate(placement: 0x10_0001, ramSize: 0x10_0000, mmio: [])
        }
        #expect(throws: ELFError.segmentOutsideRAM(
            index: 1, range: 0x10_1000..<0x10_2000, ramStart: 0, ramSize: 0x10_1fff)
        ) {
            try image.validate(placement: 0, ramSize: 0x10_1fff, mmio: [])
        }
        // A RAM region whose end does not fit in 64 bits must not trap.
        try image.validate(placement: 0x10_0000, ramSize: UInt64.max, mmio: [])
    }

    @Test("a segment over an MMIO region")
    func overlapsMMIO() throws {
        let image = try image()
        #expect(throws: ELFError.segmentOverlapsMMIO(
            index: 1, range: 0x10_1000..<0x10_2000, mmio: 0x10_1ff0..<0x10_3000)
        ) {
            try image.validate(
                placement: 0, ramSize: 0x40_0000, mmio: [0x9000_0000..<0x9000_1000, 0x10_1ff0..<0x10_3000])
        }
    }
}

@Suite("ELF errors read as one sentence that says what to do")
struct ELFErrorDescriptionTests {
    static let samples: [ELFError] = [
        .notELF, .truncatedHeader(fileSize: 40), .not64Bit(elfClass: 1), .notLittleEndian(dataEncoding: 2),
        .unsupportedVersion(0), .notExecutable(type: 3), .unsupportedMachine(40),
        .wrongMachine(found: .x86_64, expected: .aarch64), .badProgramHeaderSize(32),
        .tooManyProgramHeaders(0xFFFF), .truncatedProgramHeaders(offset: 64, count: 3, fileSize: 120),
        .truncatedSegment(index: 0, offset: 120, fileBytes: 1000, fileSize: 136),
        .fileSizeExceedsMemorySize(index: 0, fileBytes: 16, memorySize: 8),
        .segmentAddressOverflow(index: 0, address: UInt64.max - 4, memorySize: 16),
        .overlappingSegments(first: 0, firstRange: 0..<16, second: 1, secondRange: 8..<24),
        .noLoadSegment, .entryOutsideExecutableSegment(entry: 0x20_0000),
        .segmentOutsideRAM(index: 1, range: 0x10_1000..<0x10_2000, ramStart: 0, ramSize: 0x1000),
        .segmentOverlapsMMIO(index: 1, range: 0x10_1000..<0x10_2000, mmio: 0x10_1ff0..<0x10_3000),
        .misalignedEntry(entry: 0x4008_0002, machine: .aarch64), .emptyFlatImage,
    ]

    @Test(arguments: samples)
    func oneSentence(_ error: ELFError) {
        let text = error.description
        #expect(!text.hasSuffix("."), "a clause the CLI embeds in its one-sentence error")
        #expect(text.first?.isLowercase == true)
        #expect(!text.contains("\n"))
        #expect(text.contains(";"), "names what failed, then what to do")
    }

    @Test("addresses are printed in hex")
    func hexAddresses() {
        #expect(ELFError.entryOutsideExecutableSegment(entry: 0x20_0000).description.contains("0x200000"))
        #expect(ELFError.segmentOverlapsMMIO(index: 1, range: 0x1000..<0x2000, mmio: 0x1ff0..<0x3000)
            .description.contains("0x1000-0x2000"))
    }
}
