#if arch(x86_64)
import Glibc
import KVM
import Lifecycle
import Platforms
import PVMHTestSupport
import Testing

/// The transport probe's answer is reused only under exactly the key it was
/// found with; anything else probes again.
@Suite("transport probe cache")
struct TransportCacheTests {
    static let key = TransportCache.Key(bootID: "b00t", kernelRelease: "6.18.44", kvmModules: "kvm,kvm_pvm",
                                        pvmhVersion: PVMHVersion.string, kvmPath: "/dev/kvm")
    static let answer = TransportProbe.Result(transport: .doorbell, reason: "a probe guest's vmcall did not complete")

    func scratch() throws -> String {
        var template = Array("/tmp/pvmh-cache-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, mkdtemp(base) != nil else { return nil }
            return String(cString: base)
        }
        let directory = try #require(made, "mkdtemp failed")
        return "\(directory)/pvmh/transport-probe"
    }

    @Test("stored under a key, found under the same key")
    func roundTrip() throws {
        let path = try scratch()
        #expect(TransportCache.store(Self.answer, key: Self.key, at: path))
        #expect(TransportCache.lookup(Self.key, at: path) == Self.answer)
    }

    @Test("any part of the key that differs means no answer: a reboot, another kernel, module or pvmh", arguments: 0..<5)
    func staleKeys(_ field: Int) throws {
        let path = try scratch()
        #expect(TransportCache.store(Self.answer, key: Self.key, at: path))
        var other = Self.key
        switch field {
        case 0: other.bootID += "-changed"
        case 1: other.kernelRelease += "-changed"
        case 2: other.kvmModules += ",kvm_intel"
        case 3: other.pvmhVersion += "-changed"
        default: other.kvmPath += "-changed"
        }
        #expect(TransportCache.lookup(other, at: path) == nil)
    }

    @Test("an unwritable place stores nothing and a missing or corrupt file gives no answer")
    func unwritableAndCorrupt() throws {
        #expect(!TransportCache.store(Self.answer, key: Self.key, at: "/proc/pvmh-cannot-be-here/transport-probe"))
        #expect(TransportCache.lookup(Self.key, at: "/nonexistent/pvmh/transport-probe") == nil)
        let path = try scratch()
        #expect(TransportCache.store(Self.answer, key: Self.key, at: path))
        let file = try #require(fopen(path, "w"))
        fputs("boot_id=b00t\ntransport=vmcall\n", file)
        fclose(file)
        #expect(TransportCache.lookup(Self.key, at: path) == nil, "a file without the whole key is never trusted")
    }

    @Test("XDG_RUNTIME_DIR is preferred, /run otherwise")
    func location() {
        #expect(TransportCache.path(environment: ["XDG_RUNTIME_DIR": "/run/user/1000"]) == "/run/user/1000/pvmh/transport-probe")
        #expect(TransportCache.path(environment: ["XDG_RUNTIME_DIR": ""]).hasSuffix("/pvmh/transport-probe"))
    }

    @Test("on this host: the first call probes (refresh), the next one reads the cache and agrees",
          .enabled(if: KVMGate.enabled, "needs read/write /dev/kvm"))
    func liveHost() throws {
        let path = try scratch()
        let system = try KVMSystem(path: KVMGate.path)
        defer { try? system.fd.close() }
        let (first, firstSource) = TransportCache.transport(system: system, kvmPath: KVMGate.path, refresh: true, path: path)
        #expect(firstSource == .probed)
        let (second, secondSource) = TransportCache.transport(system: system, kvmPath: KVMGate.path, path: path)
        #expect(second == first)
        #expect(secondSource == .cached(path: path))
    }
}
#endif
