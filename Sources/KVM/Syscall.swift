import CKVM

/// The one choke point where pvmh calls into C for KVM. Every call names its
/// operation so a failure keeps the ioctl's name and errno.
@usableFromInline
enum Syscall {
    /// ioctl with a pointer argument; returns the non-negative result.
    @inlinable
    static func ioctl(_ fd: Int32, _ request: UInt, _ argument: UnsafeMutableRawPointer?, _ name: String) throws(KVMError) -> Int {
        let result = ckvm_ioctl(fd, request, argument)
        if result < 0 { throw KVMError(name, errno: Int32(-result)) }
        return result
    }

    /// ioctl with an integer argument; returns the non-negative result.
    @inlinable
    static func ioctl(_ fd: Int32, _ request: UInt, value: UInt, _ name: String) throws(KVMError) -> Int {
        let result = ckvm_ioctl_value(fd, request, value)
        if result < 0 { throw KVMError(name, errno: Int32(-result)) }
        return result
    }

    /// ioctl on a value of type T passed by reference.
    @inlinable
    static func ioctl<T>(_ fd: Int32, _ request: UInt, _ argument: inout T, _ name: String) throws(KVMError) -> Int {
        let result = withUnsafeMutablePointer(to: &argument) { ckvm_ioctl(fd, request, UnsafeMutableRawPointer($0)) }
        if result < 0 { throw KVMError(name, errno: Int32(-result)) }
        return result
    }
}
