import GuestImage

/// Crafts small ELF64 files byte by byte, so each validation rule can be tested
/// with exactly one thing wrong (and no binary is committed).
///
/// The default is a valid x86_64 executable with one R-X PT_LOAD of 16 bytes at
/// 0x100000 and the entry at its start. Fields left nil are computed: program
/// headers at offset 64, segment data after them in order, `p_filesz` =
/// `data.count`, `p_memsz` = `p_filesz`.
struct ELFBuilder {
    struct Segment {
        var type: UInt32 = 1                    // PT_LOAD
        var flags: UInt32 = 5                   // R-X
        var physicalAddress: UInt64 = 0x10_0000
        var virtualAddress: UInt64? = nil       // nil: same as physical
        var data: [UInt8] = Array(repeating: 0x90, count: 16)
        var offset: UInt64? = nil
        var fileSize: UInt64? = nil
        var memorySize: UInt64? = nil
    }

    var magic: [UInt8] = [0x7F, 0x45, 0x4C, 0x46]
    var elfClass: UInt8 = 2
    var dataEncoding: UInt8 = 1
    var identVersion: UInt8 = 1
    var type: UInt16 = 2                        // ET_EXEC
    var machine: UInt16 = 62                    // EM_X86_64
    var version: UInt32 = 1
    var entry: UInt64 = 0x10_0000
    var programHeaderOffset: UInt64? = nil
    var programHeaderEntrySize: UInt16 = 56
    var programHeaderCount: UInt16? = nil
    var segments: [Segment] = [Segment()]
    /// Cut the finished file to this many bytes.
    var truncateTo: Int? = nil

    func bytes() -> [UInt8] {
        let tableOffset = 64
        var dataOffset = tableOffset + 56 * segments.count
        var out = [UInt8](repeating: 0, count: dataOffset)

        out.replaceSubrange(0..<4, with: magic)
        out[4] = elfClass
        out[5] = dataEncoding
        out[6] = identVersion
        put(type, into: &out, at: 16)
        put(machine, into: &out, at: 18)
        put(version, into: &out, at: 20)
        put(entry, into: &out, at: 24)
        put(programHeaderOffset ?? UInt64(tableOffset), into: &out, at: 32)
        put(UInt16(64), into: &out, at: 52)                               // e_ehsize
        put(programHeaderEntrySize, into: &out, at: 54)
        put(programHeaderCount ?? UInt16(segments.count), into: &out, at: 56)

        for (index, segment) in segments.enumerated() {
            let base = tableOffset + 56 * index
            let fileSize = segment.fileSize ?? UInt64(segment.data.count)
            put(segment.type, into: &out, at: base)
            put(segment.flags, into: &out, at: base + 4)
            put(segment.offset ?? UInt64(dataOffset), into: &out, at: base + 8)
            put(segment.virtualAddress ?? segment.physicalAddress, into: &out, at: base + 16)
            put(segment.physicalAddress, into: &out, at: base + 24)
            put(fileSize, into: &out, at: base + 32)
            put(segment.memorySize ?? fileSize, into: &out, at: base + 40)
            put(UInt64(16), into: &out, at: base + 48)                    // p_align
            dataOffset += segment.data.count
        }
        for segment in segments {
            out += segment.data
        }
        if let truncateTo {
            out.removeLast(out.count - truncateTo)
        }
        return out
    }

    private func put<T: FixedWidthInteger>(_ value: T, into out: inout [UInt8], at offset: Int) {
        for byte in 0..<MemoryLayout<T>.size {
            out[offset + byte] = UInt8(truncatingIfNeeded: value >> (8 * byte))
        }
    }
}

// MARK: - The malformed-image corpus

/// One image with exactly one thing wrong, and the error pvmh must give.
///
/// Shared by GuestImageTests (the parser), PVMHTests (the same files
/// through `pvmh run`: exit 2, one sentence) and the bad-input leak test.
/// `Tests/PVMHTests/ELFBuilder.swift` is a symlink to this file, so there is
/// one corpus.
struct MalformedImage: CustomStringConvertible, Sendable {
    /// Where the rule is checked.
    enum Stage: Sendable {
        /// `ELFImage(bytes:expecting:)`, with the VM's architecture.
        case parse(expecting: GuestArchitecture?)
        /// `validate(placement:)` on an image that parses.
        case placement(ramStart: UInt64, ramSize: UInt64, mmio: [Range<UInt64>])
        /// `ELFImage(flat:loadAddress:machine:)`.
        case flat(loadAddress: UInt64, machine: GuestArchitecture)
    }

    var name: String
    var bytes: [UInt8]
    var stage: Stage
    var expected: ELFError
    /// The architecture of the VM the image is meant for (the CLI picks the
    /// platform from it: x86_64 → KVM, aarch64 → the model).
    var architecture: GuestArchitecture

    var description: String { name }

    /// The arm64 layout `pvmh run --platform model` uses: 4 MiB of RAM at
    /// 0x4000_0000, the PL011 UART and the harness window below it.
    static let arm64RAM: (UInt64, UInt64) = (0x4000_0000, 4 << 20)
    static let arm64MMIO: [Range<UInt64>] = [0x0900_0000..<0x0900_1000, 0x0A00_3E00..<0x0A00_4000]

    /// Every ELF rule at least once (`ELFErrorKind.all` says which rules exist).
    static let corpus: [MalformedImage] = {
        var out: [MalformedImage] = []
        func add(_ name: String, _ builder: ELFBuilder, _ expected: ELFError,
                 expecting: GuestArchitecture? = .x86_64, architecture: GuestArchitecture = .x86_64) {
            out.append(MalformedImage(name: name, bytes: builder.bytes(), stage: .parse(expecting: expecting),
                                      expected: expected, architecture: architecture))
        }
        func raw(_ name: String, _ bytes: [UInt8], _ expected: ELFError) {
            out.append(MalformedImage(name: name, bytes: bytes, stage: .parse(expecting: .x86_64), expected: expected, architecture: .x86_64))
        }
        var b = ELFBuilder()

        b.magic = [0x7F, 0x45, 0x4C, 0x47]; add("bad magic", b, .notELF)
        raw("two bytes", [0x7F, 0x45], .notELF)
        raw("a shell script", Array("#!/bin/sh\necho hi\n".utf8), .notELF)
        b = ELFBuilder(); b.truncateTo = 40; add("header cut at 40 bytes", b, .truncatedHeader(fileSize: 40))
        b = ELFBuilder(); b.truncateTo = 5; add("header cut at 5 bytes", b, .truncatedHeader(fileSize: 5))
        for elfClass: UInt8 in [0, 1, 3] {
            b = ELFBuilder(); b.elfClass = elfClass; add("EI_CLASS \(elfClass)", b, .not64Bit(elfClass: elfClass))
        }
        b = ELFBuilder(); b.elfClass = 1; b.truncateTo = 52; add("an ELF32 header", b, .not64Bit(elfClass: 1))
        for encoding: UInt8 in [0, 2] {
            b = ELFBuilder(); b.dataEncoding = encoding; add("EI_DATA \(encoding)", b, .notLittleEndian(dataEncoding: encoding))
        }
        b = ELFBuilder(); b.identVersion = 0; add("EI_VERSION 0", b, .unsupportedVersion(0))
        b = ELFBuilder(); b.version = 2; add("e_version 2", b, .unsupportedVersion(2))
        for type: UInt16 in [1, 3, 4] {
            b = ELFBuilder(); b.type = type; add("e_type \(type)", b, .notExecutable(type: type))
        }
        for machine: UInt16 in [0, 40, 0xFFFF] {
            b = ELFBuilder(); b.machine = machine; add("e_machine \(machine)", b, .unsupportedMachine(machine), expecting: nil)
        }
        add("x86_64 image for an arm64 VM", ELFBuilder(), .wrongMachine(found: .x86_64, expected: .aarch64),
            expecting: .aarch64, architecture: .aarch64)
        b = ELFBuilder(); b.machine = 183; b.entry = 0x4008_0000; b.segments[0].physicalAddress = 0x4008_0000
        add("arm64 image for an x86_64 VM", b, .wrongMachine(found: .aarch64, expected: .x86_64))
        for size: UInt16 in [0, 32, 64] {
            b = ELFBuilder(); b.programHeaderEntrySize = size; add("e_phentsize \(size)", b, .badProgramHeaderSize(size))
        }
        for count: UInt16 in [257, 0xFFFF] {
            b = ELFBuilder(); b.programHeaderCount = count; add("e_phnum \(count)", b, .tooManyProgramHeaders(count))
        }
        let fileSize = ELFBuilder().bytes().count
        b = ELFBuilder(); b.programHeaderOffset = UInt64(fileSize - 20)
        add("program headers past the end", b, .truncatedProgramHeaders(offset: UInt64(fileSize - 20), count: 1, fileSize: fileSize))
        b = ELFBuilder(); b.programHeaderOffset = .max - 8
        add("e_phoff near 2^64", b, .truncatedProgramHeaders(offset: .max - 8, count: 1, fileSize: fileSize))
        b = ELFBuilder(); b.programHeaderOffset = 1 << 40
        add("e_phoff a terabyte in", b, .truncatedProgramHeaders(offset: 1 << 40, count: 1, fileSize: fileSize))
        b = ELFBuilder(); b.programHeaderCount = 3
        add("e_phnum larger than the table", b, .truncatedProgramHeaders(offset: 64, count: 3, fileSize: fileSize))
        b = ELFBuilder(); b.segments[0].fileSize = 1000; b.segments[0].memorySize = 1000
        add("segment bytes past the end", b, .truncatedSegment(index: 0, offset: 120, fileBytes: 1000, fileSize: fileSize))
        b = ELFBuilder(); b.segments[0].offset = .max - 4
        add("p_offset near 2^64", b, .truncatedSegment(index: 0, offset: .max - 4, fileBytes: 16, fileSize: fileSize))
        b = ELFBuilder(); b.segments[0].offset = 1 << 40
        add("p_offset a terabyte in", b, .truncatedSegment(index: 0, offset: 1 << 40, fileBytes: 16, fileSize: fileSize))
        b = ELFBuilder(); b.segments[0].memorySize = 8
        add("p_filesz > p_memsz", b, .fileSizeExceedsMemorySize(index: 0, fileBytes: 16, memorySize: 8))
        b = ELFBuilder(); b.segments[0].physicalAddress = .max - 4
        add("p_paddr + p_memsz past 2^64", b, .segmentAddressOverflow(index: 0, address: .max - 4, memorySize: 16))
        b = ELFBuilder(); b.segments.append(.init(flags: 6, physicalAddress: 0x10_0008, data: [1, 2], memorySize: 0x100))
        add("overlapping segments", b, .overlappingSegments(first: 0, firstRange: 0x10_0000..<0x10_0010,
                                                             second: 1, secondRange: 0x10_0008..<0x10_0108))
        b = ELFBuilder(); b.segments = []; add("no program headers", b, .noLoadSegment)
        b = ELFBuilder(); b.segments = [.init(type: 4)]; add("only a PT_NOTE", b, .noLoadSegment)
        b = ELFBuilder(); b.segments = [.init(data: [])]; add("only an empty PT_LOAD", b, .noLoadSegment)
        b = ELFBuilder(); b.entry = 0x20_0000; add("entry past every segment", b, .entryOutsideExecutableSegment(entry: 0x20_0000))
        b = ELFBuilder(); b.segments[0].flags = 6; add("entry in a data segment", b, .entryOutsideExecutableSegment(entry: 0x10_0000))
        b = ELFBuilder(); b.segments[0].memorySize = 0x100; b.entry = 0x10_0010
        add("entry in the zero-filled tail", b, .entryOutsideExecutableSegment(entry: 0x10_0010))
        b = ELFBuilder.arm64(); b.entry = 0x4008_0002
        add("arm64 entry not 4-byte aligned", b, .misalignedEntry(entry: 0x4008_0002, machine: .aarch64),
            expecting: .aarch64, architecture: .aarch64)

        // Placement, against the arm64 model's memory map.
        let (ramStart, ramSize) = arm64RAM
        func place(_ name: String, _ builder: ELFBuilder, _ expected: ELFError) {
            out.append(MalformedImage(name: name, bytes: builder.bytes(),
                                      stage: .placement(ramStart: ramStart, ramSize: ramSize, mmio: arm64MMIO),
                                      expected: expected, architecture: .aarch64))
        }
        b = ELFBuilder.arm64(); b.segments[0].memorySize = 8 << 20
        place("segment past the end of RAM", b, .segmentOutsideRAM(index: 0, range: 0x4008_0000..<0x4088_0000, ramStart: ramStart, ramSize: ramSize))
        b = ELFBuilder.arm64(at: 0x1000)
        place("segment below RAM", b, .segmentOutsideRAM(index: 0, range: 0x1000..<0x1010, ramStart: ramStart, ramSize: ramSize))
        b = ELFBuilder.arm64(at: 0x0900_0000)
        place("segment over the UART", b, .segmentOverlapsMMIO(index: 0, range: 0x0900_0000..<0x0900_0010, mmio: arm64MMIO[0]))
        b = ELFBuilder.arm64(at: 0x0A00_3F00)
        place("segment over the harness window", b, .segmentOverlapsMMIO(index: 0, range: 0x0A00_3F00..<0x0A00_3F10, mmio: arm64MMIO[1]))

        // Flat binaries (`--flat ADDRESS`).
        out.append(MalformedImage(name: "empty flat binary", bytes: [], stage: .flat(loadAddress: 0x4008_0000, machine: .aarch64),
                                  expected: .emptyFlatImage, architecture: .aarch64))
        out.append(MalformedImage(name: "flat binary ending past 2^64", bytes: [0x1F, 0x20, 0x03, 0xD5],
                                  stage: .flat(loadAddress: .max - 1, machine: .aarch64),
                                  expected: .segmentAddressOverflow(index: 0, address: .max - 1, memorySize: 4), architecture: .aarch64))
        out.append(MalformedImage(name: "flat arm64 binary at an odd address", bytes: [0x1F, 0x20, 0x03, 0xD5],
                                  stage: .flat(loadAddress: 0x4008_0001, machine: .aarch64),
                                  expected: .misalignedEntry(entry: 0x4008_0001, machine: .aarch64), architecture: .aarch64))
        return out
    }()
}

extension ELFBuilder {
    /// A valid arm64 image: one R-X segment of 16 bytes (four NOPs) at `address`.
    static func arm64(at address: UInt64 = 0x4008_0000) -> ELFBuilder {
        var builder = ELFBuilder()
        builder.machine = 183
        builder.entry = address
        builder.segments[0].physicalAddress = address
        builder.segments[0].data = Array(repeating: [0x1F, 0x20, 0x03, 0xD5], count: 4).flatMap { $0 }
        return builder
    }
}

/// The rules, by name: one per `ELFError` case. The switch has no default,
/// so a new rule does not compile until it is named here, and the corpus
/// test then fails until the corpus has an image for it.
enum ELFErrorKind {
    static let all = [
        "notELF", "truncatedHeader", "not64Bit", "notLittleEndian", "unsupportedVersion", "notExecutable",
        "unsupportedMachine", "wrongMachine", "badProgramHeaderSize", "tooManyProgramHeaders",
        "truncatedProgramHeaders", "truncatedSegment", "fileSizeExceedsMemorySize", "segmentAddressOverflow",
        "overlappingSegments", "noLoadSegment", "entryOutsideExecutableSegment", "misalignedEntry",
        "emptyFlatImage", "segmentOutsideRAM", "segmentOverlapsMMIO",
    ]

    static func of(_ error: ELFError) -> String {
        switch error {
        case .notELF: "notELF"
        case .truncatedHeader: "truncatedHeader"
        case .not64Bit: "not64Bit"
        case .notLittleEndian: "notLittleEndian"
        case .unsupportedVersion: "unsupportedVersion"
        case .notExecutable: "notExecutable"
        case .unsupportedMachine: "unsupportedMachine"
        case .wrongMachine: "wrongMachine"
        case .badProgramHeaderSize: "badProgramHeaderSize"
        case .tooManyProgramHeaders: "tooManyProgramHeaders"
        case .truncatedProgramHeaders: "truncatedProgramHeaders"
        case .truncatedSegment: "truncatedSegment"
        case .fileSizeExceedsMemorySize: "fileSizeExceedsMemorySize"
        case .segmentAddressOverflow: "segmentAddressOverflow"
        case .overlappingSegments: "overlappingSegments"
        case .noLoadSegment: "noLoadSegment"
        case .entryOutsideExecutableSegment: "entryOutsideExecutableSegment"
        case .misalignedEntry: "misalignedEntry"
        case .emptyFlatImage: "emptyFlatImage"
        case .segmentOutsideRAM: "segmentOutsideRAM"
        case .segmentOverlapsMMIO: "segmentOverlapsMMIO"
        }
    }
}
