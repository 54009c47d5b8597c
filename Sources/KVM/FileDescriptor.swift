import CKVM
import Glibc

/// An owned file descriptor, closed exactly once: explicitly with `close()`
/// (so teardown can order it and see the result) or, if that never happened
/// because an error unwound the stack, in `deinit`.
///
/// Wrapping the fd the moment the kernel returns it means an early error
/// cannot leak it.
// @unchecked: the fd number changes once, when `close` runs in teardown on the
// lifecycle thread after the threads that use it have been joined.
public final class OwnedFileDescriptor: @unchecked Sendable {
    private var value: Int32
    /// What the fd is, for error messages and leak reports (e.g. "kvm-vm").
    public let kind: String

    public init(_ fd: Int32, kind: String) {
        precondition(fd >= 0, "an owned fd must be valid")
        value = fd
        self.kind = kind
    }

    /// The raw fd; -1 once closed.
    public var rawValue: Int32 { value }
    public var isOpen: Bool { value >= 0 }

    /// Closes the fd. Closing twice is a programming error the teardown
    /// executor guards against, so it is reported rather than repeated.
    public func close() throws(KVMError) {
        guard value >= 0 else { throw KVMError("close(\(kind))", errno: EBADF, hint: "the fd was already closed") }
        let fd = value
        value = -1
        // Linux releases the fd even if close reports an error: never retry.
        let result = ckvm_close(fd)
        if result < 0 { throw KVMError("close(\(kind))", errno: -result) }
    }

    deinit {
        if value >= 0 { _ = ckvm_close(value) }
    }
}
