import Glibc

/// A failed KVM operation: the ioctl (or system call) that failed, the errno it
/// returned, and — where the kernel's answer has a well-known cause — what to do.
public struct KVMError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The operation as the kernel names it, e.g. `KVM_CREATE_GUEST_MEMFD`.
    public let operation: String
    /// The errno the kernel returned.
    public let errno: Int32
    /// An optional hint: what this errno means for this operation and what to do.
    public let hint: String?

    public init(_ operation: String, errno: Int32, hint: String? = nil) {
        self.operation = operation
        self.errno = errno
        self.hint = hint
    }

    /// The symbolic errno name, e.g. `EINVAL`.
    public var errnoName: String { Errno.name(errno) }

    public var description: String {
        let base = "\(operation) failed: \(Errno.message(errno)) (\(errnoName))"
        guard let hint else { return base }
        return "\(base); \(hint)"
    }
}

/// errno names and messages, so errors print `EINVAL`, not `22`.
public enum Errno {
    static let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO",
        ENXIO: "ENXIO", E2BIG: "E2BIG", EBADF: "EBADF", ECHILD: "ECHILD", EAGAIN: "EAGAIN",
        ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY", EEXIST: "EEXIST",
        ENODEV: "ENODEV", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL", ENFILE: "ENFILE",
        EMFILE: "EMFILE", ENOTTY: "ENOTTY", EFBIG: "EFBIG", ENOSPC: "ENOSPC", ESPIPE: "ESPIPE",
        EROFS: "EROFS", ERANGE: "ERANGE", ENOSYS: "ENOSYS", EOPNOTSUPP: "EOPNOTSUPP",
        EHWPOISON: "EHWPOISON", ENOEXEC: "ENOEXEC", ETIMEDOUT: "ETIMEDOUT",
    ]

    /// `EINVAL` for 22; `errno N` for values without a name.
    public static func name(_ value: Int32) -> String { names[value] ?? "errno \(value)" }

    /// The C library's message for an errno.
    public static func message(_ value: Int32) -> String {
        guard let text = strerror(value) else { return "error \(value)" }
        return String(cString: text)
    }
}
