/// Why a guest image cannot be loaded.
///
/// Each case carries the values a reader needs to find the problem in the
/// file (`readelf -hl` shows the same fields), and `description` is one
/// sentence naming what failed and what to do about it.
public enum ELFError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file does not start with `0x7F 'E' 'L' 'F'`.
    case notELF
    /// The file ends inside the ELF header.
    case truncatedHeader(fileSize: Int)
    /// `EI_CLASS` is not `ELFCLASS64` (2).
    case not64Bit(elfClass: UInt8)
    /// `EI_DATA` is not `ELFDATA2LSB` (1).
    case notLittleEndian(dataEncoding: UInt8)
    /// `EI_VERSION` or `e_version` is not `EV_CURRENT` (1).
    case unsupportedVersion(UInt32)
    /// `e_type` is not `ET_EXEC` (2).
    case notExecutable(type: UInt16)
    /// `e_machine` is not one of `GuestArchitecture`'s.
    case unsupportedMachine(UInt16)
    /// `e_machine` is supported, but not the architecture the caller expected.
    case wrongMachine(found: GuestArchitecture, expected: GuestArchitecture)
    /// `e_phentsize` is not the size of an ELF64 program header (56).
    case badProgramHeaderSize(UInt16)
    /// `e_phnum` is larger than any guest needs (or `PN_XNUM`).
    case tooManyProgramHeaders(UInt16)
    /// The program header table (`e_phoff`, `e_phnum` entries) runs past the end of the file.
    case truncatedProgramHeaders(offset: UInt64, count: UInt16, fileSize: Int)
    /// A PT_LOAD's file bytes (`p_offset`, `p_filesz`) run past the end of the file.
    case truncatedSegment(index: Int, offset: UInt64, fileBytes: UInt64, fileSize: Int)
    /// A PT_LOAD has `p_filesz` > `p_memsz`.
    case fileSizeExceedsMemorySize(index: Int, fileBytes: UInt64, memorySize: UInt64)
    /// A PT_LOAD's `p_paddr + p_memsz` does not fit in 64 bits.
    case segmentAddressOverflow(index: Int, address: UInt64, memorySize: UInt64)
    /// Two PT_LOADs claim the same guest physical bytes.
    case overlappingSegments(first: Int, firstRange: Range<UInt64>, second: Int, secondRange: Range<UInt64>)
    /// The image has no PT_LOAD with a non-zero `p_memsz`.
    case noLoadSegment
    /// `e_entry` is not inside the file bytes of an executable PT_LOAD.
    case entryOutsideExecutableSegment(entry: UInt64)
    /// `e_entry` (or a flat binary's load address) is not aligned to an
    /// instruction: A64 instructions are 4-byte aligned, and a vCPU started
    /// there takes a PC-alignment fault before it runs anything.
    case misalignedEntry(entry: UInt64, machine: GuestArchitecture)
    /// A flat binary (`--flat ADDRESS`) with no bytes.
    case emptyFlatImage
    /// A PT_LOAD does not lie entirely inside guest RAM.
    case segmentOutsideRAM(index: Int, range: Range<UInt64>, ramStart: UInt64, ramSize: UInt64)
    /// A PT_LOAD overlaps an MMIO region.
    case segmentOverlapsMMIO(index: Int, range: Range<UInt64>, mmio: Range<UInt64>)

    public var description: String {
        switch self {
        case .notELF:
            return "the guest image is not an ELF file (it does not start with 0x7F 'E' 'L' 'F'); "
                + "pass an ELF64 executable such as the ones Guests/build writes"
        case .truncatedHeader(let fileSize):
            return "the guest image is truncated: it has \(fileSize) bytes but an ELF64 header needs 64; "
                + "rebuild or re-export it"
        case .not64Bit(let elfClass):
            return "the guest image is not a 64-bit ELF file (EI_CLASS is \(elfClass), not 2); "
                + "link the guest as ELF64"
        case .notLittleEndian(let dataEncoding):
            return "the guest image is not little-endian (EI_DATA is \(dataEncoding), not 1); "
                + "build it for a little-endian target"
        case .unsupportedVersion(let version):
            return "the guest image has ELF version \(version), not 1; rebuild it with a current linker"
        case .notExecutable(let type):
            return "the guest image is not an executable (e_type is \(type), not ET_EXEC 2); "
                + "link it as a static executable at a fixed address, not as an object or shared library"
        case .unsupportedMachine(let machine):
            let known = GuestArchitecture.allCases.map { "\($0) \($0.elfMachine)" }.joined(separator: ", ")
            return "the guest image is for ELF machine \(machine), which pvmh does not run (it knows \(known)); "
                + "build the guest for one of those"
        case .wrongMachine(let found, let expected):
            return "the guest image is for \(found) but this VM is \(expected); "
                + "pick a guest built for \(expected)"
        case .badProgramHeaderSize(let size):
            return "the guest image's program headers are \(size) bytes each (e_phentsize), not 56; "
                + "the file is corrupt or not a plain ELF64 executable, so rebuild it"
        case .tooManyProgramHeaders(let count):
            return "the guest image claims \(count) program headers (e_phnum), more than the "
                + "\(ELFImage.maximumProgramHeaders) pvmh accepts; the file is corrupt, so rebuild it"
        case .truncatedProgramHeaders(let offset, let count, let fileSize):
            return "the guest image is truncated: its \(count) program headers at offset \(hex(offset)) "
                + "run past the end of the \(fileSize)-byte file; rebuild or re-export it"
        case .truncatedSegment(let index, let offset, let fileBytes, let fileSize):
            return "the guest image is truncated: segment \(index) needs \(fileBytes) bytes at offset "
                + "\(hex(offset)), past the end of the \(fileSize)-byte file; rebuild or re-export it"
        case .fileSizeExceedsMemorySize(let index, let fileBytes, let memorySize):
            return "segment \(index) of the guest image has more file bytes (\(hex(fileBytes))) than memory "
                + "(\(hex(memorySize))); the file is corrupt, so rebuild it"
        case .segmentAddressOverflow(let index, let address, let memorySize):
            return "segment \(index) of the guest image (\(hex(memorySize)) bytes at \(hex(address))) "
                + "runs past the end of the 64-bit address space; fix the guest's linker script"
        case .overlappingSegments(let first, let firstRange, let second, let secondRange):
            return "segments \(first) (\(hex(firstRange))) and \(second) (\(hex(secondRange))) of the guest "
                + "image overlap in guest physical memory; fix the guest's linker script"
        case .noLoadSegment:
            return "the guest image has no PT_LOAD segment, so there is nothing to load; "
                + "link it with a linker script that places its code in a loadable segment"
        case .entryOutsideExecutableSegment(let entry):
            return "the guest image's entry point \(hex(entry)) is not inside an executable segment's file "
                + "bytes; check ENTRY() and the segment flags in the guest's linker script"
        case .misalignedEntry(let entry, let machine):
            return "the guest image's entry point \(hex(entry)) is not \(machine.instructionAlignment)-byte aligned, "
                + "as \(machine) instructions must be; fix ENTRY() or the --flat load address"
        case .emptyFlatImage:
            return "the flat binary is empty, so there is nothing to load; give a file with the guest's code"
        case .segmentOutsideRAM(let index, let range, let ramStart, let ramSize):
            return "segment \(index) of the guest image (\(hex(range))) is not inside guest RAM "
                + "(\(hex(ramSize)) bytes at \(hex(ramStart))); give the VM more memory or link the guest lower"
        case .segmentOverlapsMMIO(let index, let range, let mmio):
            return "segment \(index) of the guest image (\(hex(range))) overlaps the MMIO region "
                + "\(hex(mmio)); link the guest elsewhere or move the device"
        }
    }
}

/// `0x1f000`, the form addresses take in every message here.
func hex(_ value: UInt64) -> String {
    "0x" + String(value, radix: 16)
}

/// `0x100000-0x109000` (end exclusive, as `Range` is).
func hex(_ range: Range<UInt64>) -> String {
    hex(range.lowerBound) + "-" + hex(range.upperBound)
}
