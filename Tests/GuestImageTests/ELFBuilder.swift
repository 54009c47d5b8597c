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
