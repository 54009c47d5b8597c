import Glibc

/// Lists this process's KVM-related fds (/dev/kvm, kvm-vm, kvm-vcpu, gmem) by
/// reading /proc/self/fd, so a run can prove it left none behind.
public enum FileDescriptorAudit {
    /// The link targets of open KVM fds, e.g. "anon_inode:kvm-vm".
    public static func openKVMDescriptors() -> [String] {
        guard let dir = opendir("/proc/self/fd") else { return [] }
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
            // Guest RAM memfds count too (memfd platforms, arm64-pkvm): a
            // leaked one holds the guest's memory.
            if target == "/dev/kvm" || target.hasPrefix("anon_inode:kvm") || target.hasPrefix("anon_inode:[kvm")
                || target.hasPrefix("/memfd:pvmh-guest-ram") {
                found.append(target)
            }
        }
        return found.sorted()
    }

    /// What is open now that was not open in `baseline` (multiset difference).
    public static func leaked(since baseline: [String]) -> [String] {
        var remaining = baseline
        var extra: [String] = []
        for item in openKVMDescriptors() {
            if let index = remaining.firstIndex(of: item) {
                remaining.remove(at: index)
            } else {
                extra.append(item)
            }
        }
        return extra
    }
}
