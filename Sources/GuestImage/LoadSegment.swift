/// One PT_LOAD segment of a guest image: bytes to copy into guest RAM.
///
/// The VMM copies `fileBytes` to `guestPhysicalAddress` and zero-fills the
/// rest of `memorySize` (the `.bss` tail). Guests run with paging off at first
/// and then identity mapped, so the address that matters is the physical one
/// (`p_paddr`), not `p_vaddr`.
public struct LoadSegment: Sendable, Hashable {
    /// Access rights the segment asks for (`p_flags`; bit values as in ELF).
    public struct Flags: OptionSet, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        public static let executable = Flags(rawValue: 1)   // PF_X
        public static let writable = Flags(rawValue: 2)     // PF_W
        public static let readable = Flags(rawValue: 4)     // PF_R

        /// `R-X`, `RW-`, as readelf prints them.
        public var description: String {
            (contains(.readable) ? "R" : "-") + (contains(.writable) ? "W" : "-")
                + (contains(.executable) ? "X" : "-")
        }
    }

    /// The segment's index in the program header table (messages name it).
    public let index: Int
    /// Where the segment goes in guest physical memory (`p_paddr`).
    public let guestPhysicalAddress: UInt64
    /// The segment's link-time virtual address (`p_vaddr`); informational.
    public let virtualAddress: UInt64
    /// The bytes to copy (`p_filesz` of them, from `p_offset`).
    public let fileBytes: [UInt8]
    /// The segment's size in guest memory (`p_memsz`), at least `fileBytes.count`.
    public let memorySize: UInt64
    public let flags: Flags

    /// A segment as a test or a synthetic image would describe it.
    /// `memorySize` must cover `fileBytes` and the end must fit in 64 bits
    /// (ELFImage checks both before it builds one).
    public init(
        index: Int, guestPhysicalAddress: UInt64, virtualAddress: UInt64,
        fileBytes: [UInt8], memorySize: UInt64, flags: Flags
    ) {
        precondition(memorySize >= UInt64(fileBytes.count), "a segment's memory must cover its file bytes")
        precondition(guestPhysicalAddress <= UInt64.max - memorySize, "a segment must end below 2^64")
        self.index = index
        self.guestPhysicalAddress = guestPhysicalAddress
        self.virtualAddress = virtualAddress
        self.fileBytes = fileBytes
        self.memorySize = memorySize
        self.flags = flags
    }

    /// The guest physical bytes the segment occupies, tail included.
    /// (ELFImage guarantees the end does not overflow.)
    public var guestPhysicalRange: Range<UInt64> {
        guestPhysicalAddress..<guestPhysicalAddress + memorySize
    }

    /// How many zero bytes follow `fileBytes` in guest memory.
    public var zeroFillSize: UInt64 {
        memorySize - UInt64(fileBytes.count)
    }
}
