import CKVM
import Glibc

/// A guest_memfd file: guest memory that belongs to the VM rather than to a
/// host mapping. It holds a reference on the VM, and an mmap of it holds the
/// file, so releasing it (close + munmap) always precedes VM destruction.
// @unchecked: immutable properties; its OwnedFileDescriptor closes once (see there).
public final class GuestMemfd: GuestMemoryFile, @unchecked Sendable {
    public let fd: OwnedFileDescriptor
    public let size: UInt64
    public let flags: GuestMemfdFlags
    public var label: String { "guest_memfd" }

    init(fd: OwnedFileDescriptor, size: UInt64, flags: GuestMemfdFlags) {
        self.fd = fd
        self.size = size
        self.flags = flags
    }
}
