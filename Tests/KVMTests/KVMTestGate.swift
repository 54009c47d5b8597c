import Glibc

/// Whether the hardware suites run: when `/dev/kvm` opens read/write, or when
/// `PVMH_REQUIRE_KVM=1` says this machine must have KVM — then the suites run
/// anyway and fail loudly if it is missing, because in CI a skip is never a pass.
enum KVMTestGate {
    static let path = "/dev/kvm"

    static var required: Bool {
        guard let value = getenv("PVMH_REQUIRE_KVM") else { return false }
        return String(cString: value) == "1"
    }

    static var deviceOpens: Bool {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        close(fd)
        return true
    }

    static var enabled: Bool { required || deviceOpens }
}

/// This process's open fds whose /proc/self/fd link names a KVM object
/// ("anon_inode:kvm-vm", "anon_inode:kvm-vcpu:0", "anon_inode:[kvm-gmem]", …).
/// Written here rather than borrowed from Lifecycle so KVMTests depends only on KVM.
enum KVMDescriptors {
    static func open() -> [String] {
        guard let dir = opendir("/proc/self/fd") else { return ["opendir failed"] }
        defer { closedir(dir) }
        let own = dirfd(dir)
        var found: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let fd = Int32(name), fd != own else { continue }
            var buffer = [UInt8](repeating: 0, count: 256)
            let length = readlink("/proc/self/fd/\(name)", &buffer, buffer.count - 1)
            guard length > 0 else { continue }
            let target = String(decoding: buffer.prefix(length), as: UTF8.self)
            if target.hasPrefix("anon_inode:kvm") || target.hasPrefix("anon_inode:[kvm") {
                found.append(target)
            }
        }
        return found.sorted()
    }
}
