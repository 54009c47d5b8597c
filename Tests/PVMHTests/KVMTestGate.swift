import Glibc

/// Whether the end-to-end suites run: when `/dev/kvm` opens read/write, or
/// when `PVMH_REQUIRE_KVM=1` says this machine must have KVM — then they run
/// anyway and fail loudly if it is missing, because in CI a skip is never a pass.
/// (The same gate as KVMTests'; test targets cannot share a file.)
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
