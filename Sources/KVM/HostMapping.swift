import CKVM
import Glibc

/// An owned mmap region, unmapped exactly once (explicitly, or in deinit if an
/// error unwound the stack first).
// @unchecked: the address is immutable; `unmap` (the one mutation) runs in
// teardown on the lifecycle thread after every vCPU thread has been joined.
public final class HostMapping: @unchecked Sendable {
    public struct Protection: OptionSet, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let read = Protection(rawValue: PROT_READ)
        public static let write = Protection(rawValue: PROT_WRITE)
        public static let none: Protection = []
    }

    public private(set) var base: UnsafeMutableRawPointer?
    public let length: Int
    public let what: String

    /// Maps `length` bytes of a file at `offset` (MAP_SHARED). A closed or
    /// invalid fd is EBADF, never silently anonymous memory.
    public convenience init(length: Int, protection: Protection, fd: Int32, offset: UInt64, what: String) throws(KVMError) {
        guard fd >= 0 else { throw KVMError("mmap(\(what))", errno: EBADF, hint: "the fd is closed") }
        try self.init(length: length, protection: protection, flags: MAP_SHARED, fd: fd, offset: offset, what: what)
    }

    /// Maps `length` bytes of anonymous shared memory.
    public convenience init(anonymousLength length: Int, protection: Protection, what: String) throws(KVMError) {
        try self.init(length: length, protection: protection, flags: MAP_SHARED | MAP_ANONYMOUS, fd: -1, offset: 0, what: what)
    }

    private init(length: Int, protection: Protection, flags: Int32, fd: Int32, offset: UInt64, what: String) throws(KVMError) {
        var err: Int32 = 0
        guard let pointer = ckvm_mmap(nil, length, protection.rawValue, flags, fd, offset, &err) else {
            throw KVMError("mmap(\(what))", errno: err)
        }
        base = pointer
        self.length = length
        self.what = what
    }

    public var isMapped: Bool { base != nil }

    /// The address of `offset`, for memslots and host accesses.
    public func address(at offset: Int = 0) -> UnsafeMutableRawPointer {
        guard let base else { preconditionFailure("\(what) is no longer mapped") }
        precondition(offset >= 0 && offset <= length, "offset \(offset) outside \(what)")
        return base + offset
    }

    /// Changes the protection of a page-aligned byte range.
    public func protect(offset: Int, length: Int, _ protection: Protection) throws(KVMError) {
        let result = ckvm_mprotect(address(at: offset), length, protection.rawValue)
        if result < 0 { throw KVMError("mprotect(\(what))", errno: -result) }
    }

    /// Unmaps the region.
    public func unmap() throws(KVMError) {
        guard let pointer = base else { throw KVMError("munmap(\(what))", errno: EINVAL, hint: "already unmapped") }
        base = nil
        let result = ckvm_munmap(pointer, length)
        if result < 0 { throw KVMError("munmap(\(what))", errno: -result) }
    }

    deinit {
        if let base { _ = ckvm_munmap(base, length) }
    }
}
