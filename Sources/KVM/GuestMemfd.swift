import CKVM
import Glibc

/// A guest_memfd file: guest memory that belongs to the VM rather than to a
/// host mapping. It holds a reference on the VM, and an mmap of it holds the
/// file, so releasing it (close + munmap) always precedes VM destruction.
public final class GuestMemfd: @unchecked Sendable {
    public let fd: OwnedFileDescriptor
    public let size: UInt64
    public let flags: GuestMemfdFlags

    init(fd: OwnedFileDescriptor, size: UInt64, flags: GuestMemfdFlags) {
        self.fd = fd
        self.size = size
        self.flags = flags
    }

    /// Maps `length` bytes at `offset` (MAP_SHARED; needs `GUEST_MEMFD_FLAG_MMAP`).
    public func map(offset: UInt64 = 0, length: UInt64, protection: HostMapping.Protection, what: String) throws(KVMError) -> HostMapping {
        try HostMapping(length: Int(length), protection: protection, fd: fd.rawValue, offset: offset, what: what)
    }

    /// Allocates backing pages for a byte range up front, so the memory is
    /// really taken (and its return after teardown measurable).
    /// The corresponding call is `fallocate(0)`.
    public func allocate(offset: UInt64, length: UInt64) throws(KVMError) {
        let result = ckvm_fallocate(fd.rawValue, offset, length)
        if result < 0 { throw KVMError("fallocate on guest_memfd", errno: -result) }
    }

    /// Discards the pages of a byte range so later reads see zeros — how
    /// teardown scrubs private memory without a userspace memset.
    /// The corresponding call is `fallocate(PUNCH_HOLE|KEEP_SIZE)`.
    public func punchHole(offset: UInt64, length: UInt64) throws(KVMError) {
        let result = ckvm_punch_hole(fd.rawValue, offset, length)
        if result < 0 { throw KVMError("fallocate(PUNCH_HOLE) on guest_memfd", errno: -result) }
    }
}
