import CKVM
import Glibc
@testable import KVM
import Testing

/// Error paths without hardware: errors keep the operation and errno, and
/// owned resources are released exactly once.
@Suite("errors and owned resources")
struct ErrorPathTests {
    @Test("KVMError prints the operation, the C library's message and the errno name")
    func errorDescription() {
        let plain = KVMError("KVM_CREATE_VM", errno: EINVAL)
        #expect(plain.description == "KVM_CREATE_VM failed: Invalid argument (EINVAL)")
        #expect(plain.errnoName == "EINVAL")
        #expect(plain.hint == nil)
        let hinted = KVMError("open(/dev/kvm)", errno: EACCES, hint: "add yourself to the kvm group")
        #expect(hinted.description == "open(/dev/kvm) failed: Permission denied (EACCES); add yourself to the kvm group")
        #expect(KVMError("X", errno: 1) != KVMError("X", errno: 1, hint: "h"))
    }

    @Test("errno names", arguments: [
        (EINVAL, "EINVAL"), (EBADF, "EBADF"), (ENOTTY, "ENOTTY"), (EFAULT, "EFAULT"), (EHWPOISON, "EHWPOISON"),
        (ENOENT, "ENOENT"), (EINTR, "EINTR"), (EPERM, "EPERM"), (ENODEV, "ENODEV"), (EEXIST, "EEXIST"),
        (ENOMEM, "ENOMEM"), (EBUSY, "EBUSY"), (EOPNOTSUPP, "EOPNOTSUPP"), (ENOSYS, "ENOSYS"),
    ])
    func errnoName(_ value: Int32, _ name: String) {
        #expect(Errno.name(value) == name)
    }

    @Test("unnamed errno values print as numbers", arguments: [Int32(0), 4095, -1, 200])
    func unknownErrno(_ value: Int32) {
        #expect(Errno.name(value) == "errno \(value)")
        #expect(!Errno.message(value).isEmpty)
    }

    @Test("errno messages come from the C library")
    func errnoMessage() {
        #expect(Errno.message(EBADF) == "Bad file descriptor")
        #expect(Errno.message(ENOTTY) == "Inappropriate ioctl for device")
    }

    // MARK: opening /dev/kvm

    @Test("a missing KVM device throws open(path) ENOENT with the no-KVM hint")
    func missingDevice() {
        let error = #expect(throws: KVMError.self) { try KVMSystem(path: "/nonexistent") }
        #expect(error?.operation == "open(/nonexistent)")
        #expect(error?.errno == ENOENT)
        #expect(error?.hint?.contains("no KVM") == true)
        #expect(error?.description.contains("(ENOENT)") == true)
        #expect(!KVMSystem.isAvailable(path: "/nonexistent"))
    }

    @Test("open hints per errno", arguments: [
        (ENOENT, "no KVM"), (EACCES, "permission"), (EPERM, "permission"), (ENODEV, "dmesg"), (ENXIO, "dmesg"),
    ])
    func openHints(_ error: Int32, _ phrase: String) throws {
        let hint = try #require(KVMSystem.openHint(errno: error))
        #expect(hint.contains(phrase))
        #expect(KVMSystem.openHint(errno: EIO) == nil)
    }

    @Test("a device that is not KVM fails KVM_GET_API_VERSION with ENOTTY")
    func notKVM() {
        let error = #expect(throws: KVMError.self) { try KVMSystem(path: "/dev/null") }
        #expect(error?.operation == "KVM_GET_API_VERSION")
        #expect(error?.errno == ENOTTY)
        #expect(error?.description.contains("ENOTTY") == true)
        #expect(!KVMSystem.isAvailable(path: "/dev/null"))
    }

    @Test("a directory cannot be opened read/write: EISDIR, no hint")
    func directory() {
        let error = #expect(throws: KVMError.self) { try KVMSystem(path: "/tmp") }
        #expect(error?.operation == "open(/tmp)")
        #expect(error?.errno == EISDIR)
        #expect(error?.hint == nil)
    }

    // MARK: OwnedFileDescriptor

    @Test("closing an OwnedFileDescriptor twice reports EBADF the second time")
    func closeTwice() throws {
        let raw = ckvm_open("/dev/null", O_RDWR)
        try #require(raw >= 0)
        let fd = OwnedFileDescriptor(raw, kind: "test-fd")
        #expect(fd.isOpen)
        #expect(fd.rawValue == raw)
        try fd.close()
        #expect(!fd.isOpen)
        #expect(fd.rawValue == -1)
        let error = #expect(throws: KVMError.self) { try fd.close() }
        #expect(error?.operation == "close(test-fd)")
        #expect(error?.errno == EBADF)
        #expect(error?.hint == "the fd was already closed")
        #expect(error?.description.contains("EBADF") == true)
    }

    /// In a child process nothing else opens fds, so the number the first close
    /// freed is handed out again; the second close must not close that new file.
    @Test("the fd is closed exactly once, even when its number is reused")
    func closedExactlyOnce() async {
        await #expect(processExitsWith: .success) {
            let raw = ckvm_open("/dev/null", O_RDWR)
            guard raw >= 0 else { exit(10) }
            let fd = OwnedFileDescriptor(raw, kind: "test-fd")
            do { try fd.close() } catch { exit(11) }
            guard fcntl(raw, F_GETFD) == -1, errno == EBADF else { exit(12) }
            let reused = ckvm_open("/dev/null", O_RDONLY)
            guard reused == raw else { exit(13) }
            do { try fd.close(); exit(14) } catch let error as KVMError { guard error.errno == EBADF else { exit(15) } } catch { exit(15) }
            guard fcntl(reused, F_GETFD) >= 0 else { exit(16) }
            exit(0)
        }
    }

    @Test("an owned fd is closed when its owner goes away without close()")
    func closedOnDeinit() async {
        await #expect(processExitsWith: .success) {
            let raw = ckvm_open("/dev/null", O_RDWR)
            guard raw >= 0 else { exit(10) }
            do { _ = OwnedFileDescriptor(raw, kind: "dropped") }
            guard fcntl(raw, F_GETFD) == -1, errno == EBADF else { exit(11) }
            exit(0)
        }
    }

    @Test("wrapping a negative fd is a precondition failure")
    func negativeFD() async {
        await #expect(processExitsWith: .failure) {
            _ = OwnedFileDescriptor(-1, kind: "invalid")
        }
    }

    // MARK: HostMapping

    @Test("unmapping twice throws munmap(what) EINVAL 'already unmapped'")
    func unmapTwice() throws {
        let mapping = try HostMapping(anonymousLength: 8192, protection: [.read, .write], what: "scratch")
        #expect(mapping.isMapped)
        mapping.address(at: 4096).storeBytes(of: 0xA5, as: UInt8.self)
        #expect(mapping.address(at: 4096).load(as: UInt8.self) == 0xA5)
        try mapping.unmap()
        #expect(!mapping.isMapped)
        #expect(mapping.base == nil)
        let error = #expect(throws: KVMError.self) { try mapping.unmap() }
        #expect(error?.operation == "munmap(scratch)")
        #expect(error?.errno == EINVAL)
        #expect(error?.hint == "already unmapped")
    }

    @Test("a zero-length mmap is EINVAL naming what was being mapped")
    func mmapZeroLength() throws {
        let error = #expect(throws: KVMError.self) {
            try HostMapping(anonymousLength: 0, protection: [.read], what: "probe region")
        }
        #expect(error?.operation == "mmap(probe region)")
        #expect(error?.errno == EINVAL)
        let mapping = try HostMapping(anonymousLength: 4096, protection: [.read], what: "probe region")
        #expect(mapping.length == 4096)
        #expect(mapping.address().load(as: UInt8.self) == 0)
        try mapping.unmap()
    }

    @Test("mapping a negative fd is EBADF, never anonymous memory", arguments: [Int32(-1), -9])
    func mmapNegativeFD(_ fd: Int32) {
        let error = #expect(throws: KVMError.self) {
            try HostMapping(length: 4096, protection: [.read], fd: fd, offset: 0, what: "file view")
        }
        #expect(error?.operation == "mmap(file view)")
        #expect(error?.errno == EBADF)
        #expect(error?.description.contains("EBADF") == true)
    }

    @Test("mapping a file that cannot be mapped throws ENODEV")
    func mapDevNull() throws {
        let raw = ckvm_open("/dev/null", O_RDWR)
        try #require(raw >= 0)
        let fd = OwnedFileDescriptor(raw, kind: "null")
        let error = #expect(throws: KVMError.self) {
            try HostMapping(length: 4096, protection: [.read, .write], fd: fd.rawValue, offset: 0, what: "dev-null view")
        }
        #expect(error?.operation == "mmap(dev-null view)")
        #expect(error?.errno == ENODEV)
        try fd.close()
    }

    @Test("mprotect on an unmapped region is a precondition failure, not a stray syscall")
    func protectAfterUnmap() async {
        await #expect(processExitsWith: .failure) {
            guard let mapping = try? HostMapping(anonymousLength: 4096, protection: [.read], what: "gone") else { exit(0) }
            try? mapping.unmap()
            try? mapping.protect(offset: 0, length: 4096, .none)
        }
    }
}
