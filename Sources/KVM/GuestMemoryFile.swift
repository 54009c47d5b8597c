import CKVM
import Glibc

/// A file that holds guest RAM: a guest_memfd, or a plain memfd (shmem).
/// Both are mapped `MAP_SHARED`, allocated with `fallocate` and scrubbed by
/// punching holes, which frees the pages so every mapping of the file reads
/// zeros afterwards (Docs/kvm-abi.md, "guest_memfd and memslots").
public protocol GuestMemoryFile: AnyObject, Sendable {
    var fd: OwnedFileDescriptor { get }
    var size: UInt64 { get }
    /// What the file is in an error message: "guest_memfd", "memfd".
    var label: String { get }
}

extension GuestMemoryFile {
    /// Maps `length` bytes at `offset` (MAP_SHARED; a guest_memfd needs `GUEST_MEMFD_FLAG_MMAP`).
    public func map(offset: UInt64 = 0, length: UInt64, protection: HostMapping.Protection, what: String) throws(KVMError) -> HostMapping {
        try HostMapping(length: Int(length), protection: protection, fd: fd.rawValue, offset: offset, what: what)
    }

    /// Allocates backing pages for a byte range up front, so the memory is
    /// really taken (and its return after teardown measurable).
    /// The corresponding call is `fallocate(KEEP_SIZE)`.
    public func allocate(offset: UInt64, length: UInt64) throws(KVMError) {
        let result = ckvm_fallocate(fd.rawValue, offset, length)
        if result < 0 { throw KVMError("fallocate on \(label)", errno: -result) }
    }

    /// Discards the pages of a byte range so later reads see zeros — how
    /// teardown scrubs private memory without a userspace memset.
    /// The corresponding call is `fallocate(PUNCH_HOLE|KEEP_SIZE)`.
    public func punchHole(offset: UInt64, length: UInt64) throws(KVMError) {
        let result = ckvm_punch_hole(fd.rawValue, offset, length)
        if result < 0 { throw KVMError("fallocate(PUNCH_HOLE) on \(label)", errno: -result) }
    }

    /// The parts of `range` (byte offsets) that hold data; the rest are holes,
    /// which read as zeros. Asked with `lseek(SEEK_DATA/SEEK_HOLE)`: shmem
    /// answers at page granularity; a file without hole tracking reports all
    /// data or cannot seek (ESPIPE, guest_memfd), so no hole is ever assumed.
    public func dataExtents(in range: Range<UInt64>) throws(KVMError) -> [Range<UInt64>] {
        var extents: [Range<UInt64>] = []
        var offset = range.lowerBound
        while offset < range.upperBound {
            let data = ckvm_seek_data(fd.rawValue, offset, 0)
            if data == -Int64(ENXIO) { break }
            if data < 0 { throw KVMError("lseek(SEEK_DATA) on \(label)", errno: Int32(-data)) }
            let start = UInt64(data)
            if start >= range.upperBound { break }
            let hole = ckvm_seek_data(fd.rawValue, start, 1)
            if hole < 0 { throw KVMError("lseek(SEEK_HOLE) on \(label)", errno: Int32(-hole)) }
            let end = min(UInt64(hole), range.upperBound)
            extents.append(start..<end)
            offset = end
        }
        return extents
    }
}

/// Guest RAM as an ordinary memfd: shmem pages any KVM can map through a
/// memslot's `userspace_addr`. This is what pKVM protected VMs use, upstream
/// and on Android, and what the memfd platforms use where the kernel has no
/// guest_memfd.
public final class SharedMemoryFile: GuestMemoryFile, @unchecked Sendable {
    // @unchecked: every stored property is a `let` of a Sendable-safe type;
    // OwnedFileDescriptor closes at most once under its own rules.
    public let fd: OwnedFileDescriptor
    public let size: UInt64
    public var label: String { "memfd" }

    /// Creates a zero-filled memfd of `size` bytes (page aligned).
    /// The corresponding calls are `memfd_create(MFD_CLOEXEC)` and `ftruncate`.
    public init(size: UInt64, name: String = "pvmh-guest-ram") throws(KVMError) {
        let raw = ckvm_memfd_create(name)
        if raw < 0 { throw KVMError("memfd_create(\(name))", errno: -raw) }
        let fd = OwnedFileDescriptor(raw, kind: "memfd (guest RAM)")
        if ftruncate(raw, off_t(size)) != 0 {
            let error = errno
            try? fd.close()
            throw KVMError("ftruncate(memfd, \(size))", errno: error)
        }
        self.fd = fd
        self.size = size
    }
}
