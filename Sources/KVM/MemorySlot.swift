/// One `kvm_userspace_memory_region2`: a GPA range backed by guest_memfd (and
/// the host mapping KVM faults through where the architecture needs one).
public struct MemorySlot: Equatable, Sendable {
    public struct Flags: OptionSet, Equatable, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let logDirtyPages = Flags(rawValue: 0x1)
        public static let readOnly = Flags(rawValue: 0x2)
        /// `KVM_MEM_GUEST_MEMFD`: the slot is backed by `guestMemfd`.
        public static let guestMemfd = Flags(rawValue: 0x4)
    }

    public var slot: UInt32
    public var flags: Flags
    public var guestPhysicalAddress: UInt64
    /// 0 deletes the slot.
    public var size: UInt64
    public var userspaceAddress: UInt64
    public var guestMemfdOffset: UInt64
    public var guestMemfd: Int32

    public init(slot: UInt32, flags: Flags, guestPhysicalAddress: UInt64, size: UInt64,
                userspaceAddress: UInt64, guestMemfd: Int32 = 0, guestMemfdOffset: UInt64 = 0) {
        self.slot = slot
        self.flags = flags
        self.guestPhysicalAddress = guestPhysicalAddress
        self.size = size
        self.userspaceAddress = userspaceAddress
        self.guestMemfd = guestMemfd
        self.guestMemfdOffset = guestMemfdOffset
    }

    /// The same slot with size 0, which deletes it (gmem slots cannot be resized).
    public var deletion: MemorySlot {
        var copy = self
        copy.size = 0
        copy.flags = []
        copy.userspaceAddress = 0
        copy.guestMemfd = 0
        copy.guestMemfdOffset = 0
        return copy
    }
}
