/// A parsed, validated ELF64 guest executable: what to load where, and where
/// to start.
///
/// Parsing reads the ELF header and the program headers only (section headers
/// mean nothing to a loader) and checks everything a VMM relies on before it
/// copies a byte: the file is a little-endian ELF64 executable for a known
/// machine, every PT_LOAD's bytes are inside the file, no two segments overlap,
/// and the entry point is in executable code. All offset and size arithmetic
/// is overflow-checked, since the file may come from anywhere (`--guest FILE`).
/// Where the image will sit is the VM's business: `validate(placement:…)`
/// checks it against a concrete RAM and MMIO layout.
public struct ELFImage: Sendable, Hashable {
    /// The architecture the image is built for (`e_machine`).
    public let machine: GuestArchitecture
    /// Where the vCPU starts (`e_entry`). Guests start with paging off, so
    /// this is a guest physical address.
    public let entry: UInt64
    /// The PT_LOAD segments with a non-zero `p_memsz`, in program header order.
    public let segments: [LoadSegment]

    /// More program headers than this is a corrupt file: a guest has a handful.
    public static let maximumProgramHeaders: UInt16 = 256

    /// Parses and validates `bytes` as an ELF64 executable.
    ///
    /// - Parameter expected: the architecture the VM runs, or nil to accept
    ///   any architecture in `GuestArchitecture`.
    public init(bytes: [UInt8], expecting expected: GuestArchitecture? = nil) throws(ELFError) {
        let header = try ELFHeader(bytes: bytes)

        guard let machine = GuestArchitecture(elfMachine: header.machine) else {
            throw .unsupportedMachine(header.machine)
        }
        if let expected, expected != machine {
            throw .wrongMachine(found: machine, expected: expected)
        }

        var segments: [LoadSegment] = []
        for index in 0..<Int(header.programHeaderCount) {
            let at = Int(header.programHeaderOffset) + index * ELFHeader.programHeaderSize
            let programHeader = ProgramHeader(bytes: bytes, at: at)
            guard programHeader.type == ProgramHeader.typeLoad else { continue }
            if let segment = try programHeader.loadSegment(index: index, file: bytes) {
                segments.append(segment)
            }
        }
        guard !segments.isEmpty else { throw .noLoadSegment }
        try Self.checkNoOverlap(segments)

        let entry = header.entry
        let entryIsCode = segments.contains { segment in
            segment.flags.contains(.executable)
                && entry >= segment.guestPhysicalAddress
                && entry - segment.guestPhysicalAddress < UInt64(segment.fileBytes.count)
        }
        guard entryIsCode else { throw .entryOutsideExecutableSegment(entry: entry) }
        guard entry % machine.instructionAlignment == 0 else {
            throw .misalignedEntry(entry: entry, machine: machine)
        }

        self.machine = machine
        self.entry = entry
        self.segments = segments
    }

    /// The lowest through the highest guest physical byte any segment occupies.
    public var guestPhysicalExtent: Range<UInt64> {
        let start = segments.map(\.guestPhysicalRange.lowerBound).min() ?? 0
        let end = segments.map(\.guestPhysicalRange.upperBound).max() ?? 0
        return start..<end
    }

    /// Checks that every segment lies outside every MMIO region and inside
    /// guest RAM (`ramSize` bytes at `ramStart`).
    ///
    /// MMIO is checked first: on arm64 the devices sit below RAM, so a segment
    /// linked over the UART is also outside RAM, and "overlaps the MMIO region"
    /// is the sentence that tells the user what they did.
    public func validate(placement ramStart: UInt64, ramSize: UInt64, mmio: [Range<UInt64>]) throws(ELFError) {
        for segment in segments {
            let range = segment.guestPhysicalRange
            if let region = mmio.first(where: { $0.overlaps(range) }) {
                throw .segmentOverlapsMMIO(index: segment.index, range: range, mmio: region)
            }
            // range.upperBound >= range.lowerBound >= ramStart, so neither side overflows.
            guard range.lowerBound >= ramStart, range.upperBound - ramStart <= ramSize else {
                throw .segmentOutsideRAM(index: segment.index, range: range, ramStart: ramStart, ramSize: ramSize)
            }
        }
    }

    private static func checkNoOverlap(_ segments: [LoadSegment]) throws(ELFError) {
        let sorted = segments.sorted { $0.guestPhysicalAddress < $1.guestPhysicalAddress }
        for (lower, upper) in zip(sorted, sorted.dropFirst())
        where lower.guestPhysicalRange.overlaps(upper.guestPhysicalRange) {
            let (first, second) = lower.index < upper.index ? (lower, upper) : (upper, lower)
            throw .overlappingSegments(
                first: first.index, firstRange: first.guestPhysicalRange,
                second: second.index, secondRange: second.guestPhysicalRange)
        }
    }
}

// MARK: - On-disk structures

/// The fields of the ELF64 header a loader needs, validated.
private struct ELFHeader {
    static let size = 64
    static let programHeaderSize = 56

    let type: UInt16
    let machine: UInt16
    let entry: UInt64
    let programHeaderOffset: UInt64
    let programHeaderCount: UInt16

    init(bytes: [UInt8]) throws(ELFError) {
        guard bytes.count >= 4, bytes[0] == 0x7F, bytes[1] == UInt8(ascii: "E"),
              bytes[2] == UInt8(ascii: "L"), bytes[3] == UInt8(ascii: "F")
        else { throw .notELF }
        // Class and byte order first: a 52-byte ELF32 file should hear that it
        // is 32-bit, not that it is short.
        guard bytes.count > 5 else { throw .truncatedHeader(fileSize: bytes.count) }
        guard bytes[4] == 2 else { throw .not64Bit(elfClass: bytes[4]) }
        guard bytes[5] == 1 else { throw .notLittleEndian(dataEncoding: bytes[5]) }
        guard bytes.count >= Self.size else { throw .truncatedHeader(fileSize: bytes.count) }
        guard bytes[6] == 1 else { throw .unsupportedVersion(UInt32(bytes[6])) }

        type = load(UInt16.self, bytes, at: 16)
        machine = load(UInt16.self, bytes, at: 18)
        let version = load(UInt32.self, bytes, at: 20)
        entry = load(UInt64.self, bytes, at: 24)
        programHeaderOffset = load(UInt64.self, bytes, at: 32)
        let entrySize = load(UInt16.self, bytes, at: 54)
        programHeaderCount = load(UInt16.self, bytes, at: 56)

        guard version == 1 else { throw .unsupportedVersion(version) }
        guard type == 2 else { throw .notExecutable(type: type) }
        guard programHeaderCount <= ELFImage.maximumProgramHeaders else {
            throw .tooManyProgramHeaders(programHeaderCount)
        }
        guard programHeaderCount > 0 else { throw .noLoadSegment }
        guard entrySize == Self.programHeaderSize else { throw .badProgramHeaderSize(entrySize) }

        // count * 56 <= 256 * 56 cannot overflow; the offset can be anything.
        let tableSize = UInt64(programHeaderCount) * UInt64(Self.programHeaderSize)
        let (tableEnd, overflow) = programHeaderOffset.addingReportingOverflow(tableSize)
        guard !overflow, tableEnd <= UInt64(bytes.count) else {
            throw .truncatedProgramHeaders(
                offset: programHeaderOffset, count: programHeaderCount, fileSize: bytes.count)
        }
    }
}

/// One ELF64 program header (`Elf64_Phdr`); the caller has checked it is in the file.
private struct ProgramHeader {
    static let typeLoad: UInt32 = 1

    let type: UInt32
    let flags: UInt32
    let offset: UInt64
    let virtualAddress: UInt64
    let physicalAddress: UInt64
    let fileSize: UInt64
    let memorySize: UInt64

    init(bytes: [UInt8], at base: Int) {
        type = load(UInt32.self, bytes, at: base)
        flags = load(UInt32.self, bytes, at: base + 4)
        offset = load(UInt64.self, bytes, at: base + 8)
        virtualAddress = load(UInt64.self, bytes, at: base + 16)
        physicalAddress = load(UInt64.self, bytes, at: base + 24)
        fileSize = load(UInt64.self, bytes, at: base + 32)
        memorySize = load(UInt64.self, bytes, at: base + 40)
    }

    /// The validated segment, or nil for an empty one (nothing to load).
    func loadSegment(index: Int, file: [UInt8]) throws(ELFError) -> LoadSegment? {
        let (fileEnd, offsetOverflow) = offset.addingReportingOverflow(fileSize)
        guard !offsetOverflow, fileEnd <= UInt64(file.count) else {
            throw .truncatedSegment(index: index, offset: offset, fileBytes: fileSize, fileSize: file.count)
        }
        guard fileSize <= memorySize else {
            throw .fileSizeExceedsMemorySize(index: index, fileBytes: fileSize, memorySize: memorySize)
        }
        guard !physicalAddress.addingReportingOverflow(memorySize).overflow else {
            throw .segmentAddressOverflow(index: index, address: physicalAddress, memorySize: memorySize)
        }
        guard memorySize > 0 else { return nil }
        return LoadSegment(
            index: index,
            guestPhysicalAddress: physicalAddress,
            virtualAddress: virtualAddress,
            fileBytes: Array(file[Int(offset)..<Int(fileEnd)]),
            memorySize: memorySize,
            flags: LoadSegment.Flags(rawValue: flags & 0x7))
    }
}

/// The little-endian `T` at `offset`; the caller has checked the bounds.
private func load<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, _ bytes: [UInt8], at offset: Int) -> T {
    var value: T = 0
    for byte in 0..<MemoryLayout<T>.size {
        value |= T(bytes[offset + byte]) << (8 * byte)
    }
    return value
}
