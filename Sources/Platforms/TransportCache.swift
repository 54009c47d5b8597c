#if arch(x86_64)
import Glibc
import KVM
import Lifecycle

/// pvmh's version, part of every cached answer's key.
public enum PVMHVersion {
    public static let string = "0.3.0"
}

/// The transport probe's answer, kept for the host boot it was found on, so a
/// run does not spend the probe's 100 ms watchdog every time (Docs/performance.md).
///
/// The key is everything that could change the answer: the kernel's boot id
/// (a reboot, or a module reload after one), the kernel release, the KVM
/// modules loaded (`/sys/module/kvm*`), pvmh's version and the KVM device.
/// A cached answer whose key differs in anything is never used: the probe runs
/// again and replaces it. The cache lives in `$XDG_RUNTIME_DIR/pvmh`, else
/// `/run/pvmh` (both are emptied at boot); where neither can be written, every
/// run probes, as before.
public enum TransportCache {
    public struct Key: Equatable, Sendable {
        public var bootID: String
        public var kernelRelease: String
        public var kvmModules: String
        public var pvmhVersion: String
        public var kvmPath: String

        public init(bootID: String, kernelRelease: String, kvmModules: String, pvmhVersion: String, kvmPath: String) {
            self.bootID = bootID
            self.kernelRelease = kernelRelease
            self.kvmModules = kvmModules
            self.pvmhVersion = pvmhVersion
            self.kvmPath = kvmPath
        }

        var lines: [(String, String)] {
            [("boot_id", bootID), ("kernel", kernelRelease), ("kvm_modules", kvmModules), ("pvmh", pvmhVersion), ("kvm_path", kvmPath)]
        }
    }

    /// Where an answer was found.
    public enum Source: Equatable, Sendable {
        case probed
        /// Read from this file, written earlier in this boot.
        case cached(path: String)
    }

    /// This host's key now (nil where the boot id cannot be read: no caching).
    public static func currentKey(kvmPath: String) -> Key? {
        guard let boot = try? ProcFile.read("/proc/sys/kernel/random/boot_id") else { return nil }
        var uts = utsname()
        uname(&uts)
        let release = withUnsafeBytes(of: uts.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        var modules: [String] = []
        if let dir = opendir("/sys/module") {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                if name.hasPrefix("kvm") { modules.append(name) }
            }
            closedir(dir)
        }
        return Key(bootID: boot[...].trimmed(of: " \n"), kernelRelease: release, kvmModules: modules.sorted().joined(separator: ","),
                   pvmhVersion: PVMHVersion.string, kvmPath: kvmPath)
    }

    /// The cache file: `$XDG_RUNTIME_DIR/pvmh/transport-probe`, else `/run/pvmh/transport-probe`.
    public static func path(environment: [String: String] = [:]) -> String {
        let runtime = environment["XDG_RUNTIME_DIR"] ?? getenv("XDG_RUNTIME_DIR").map { String(cString: $0) }
        let base = runtime.flatMap { $0.isEmpty ? nil : $0 } ?? "/run"
        return "\(base)/pvmh/transport-probe"
    }

    /// The cached answer for `key`, if one was stored under exactly that key.
    public static func lookup(_ key: Key, at path: String) -> TransportProbe.Result? {
        guard let text = try? ProcFile.read(path) else { return nil }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        for (name, value) in key.lines where fields[name] != value { return nil }
        guard let transport = fields["transport"].flatMap(HypercallTransport.init(rawValue:)), let reason = fields["reason"] else { return nil }
        return TransportProbe.Result(transport: transport, reason: reason)
    }

    /// Stores `result` under `key`, atomically (a temporary file renamed into
    /// place); false where the directory cannot be made or written.
    @discardableResult
    public static func store(_ result: TransportProbe.Result, key: Key, at path: String) -> Bool {
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)])
        if mkdir(directory, 0o755) != 0 && errno != EEXIST { return false }
        let text = (key.lines + [("transport", result.transport.rawValue), ("reason", result.reason)])
            .map { "\($0.0)=\($0.1.replacingNewlines)" }.joined(separator: "\n") + "\n"
        let temporary = "\(path).\(getpid())"
        guard let file = fopen(temporary, "we") else { return false }
        let written = fputs(text, file) >= 0
        guard fclose(file) == 0, written, rename(temporary, path) == 0 else {
            unlink(temporary)
            return false
        }
        return true
    }

    /// The transport for this host: the cached answer of this boot, or a
    /// fresh probe (always with `refresh`), stored for the next run.
    public static func transport(system: KVMSystem, kvmPath: String, refresh: Bool = false,
                                 path: String = TransportCache.path()) -> (TransportProbe.Result, Source) {
        let key = currentKey(kvmPath: kvmPath)
        if !refresh, let key, let cached = lookup(key, at: path) { return (cached, .cached(path: path)) }
        let result = TransportProbe.probe(system: system)
        if let key { store(result, key: key, at: path) }
        return (result, .probed)
    }
}

private extension String {
    var replacingNewlines: String { split(whereSeparator: \.isNewline).joined(separator: " ") }
}
#endif
