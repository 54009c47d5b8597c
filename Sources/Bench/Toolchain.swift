import Glibc

/// Finding the programs the process and model figures run.
enum Toolchain {
    /// The pvmh binary to spawn: the configured one, this process when it is
    /// pvmh, or a `pvmh` beside this executable (the test runner's case).
    static func pvmhExecutable(_ configuration: BenchConfiguration) -> String? {
        if let path = configuration.pvmhExecutable { return HostFiles.isExecutable(path) ? path : nil }
        guard let me = HostFiles.currentExecutable else { return nil }
        if me.hasSuffix("/pvmh") { return me }
        var directory = HostFiles.directory(of: me)
        // A test bundle sits in .build/<config>/pvmhPackageTests.xctest or deeper.
        for _ in 0..<4 {
            if HostFiles.isExecutable("\(directory)/pvmh") { return "\(directory)/pvmh" }
            directory = HostFiles.directory(of: directory)
        }
        return nil
    }

    /// The checkout: configured, $PVMH_SOURCE_ROOT, or the first ancestor of
    /// the executable or the working directory that holds Benchmarks/baseline.
    static func sourceRoot(_ configuration: BenchConfiguration) -> String? {
        var candidates: [String] = []
        if let root = configuration.sourceRoot { candidates.append(root) }
        if let root = getenv("PVMH_SOURCE_ROOT") { candidates.append(String(cString: root)) }
        for start in [HostFiles.currentExecutable.map(HostFiles.directory(of:)), currentDirectory()].compactMap({ $0 }) {
            var directory = start
            for _ in 0..<8 {
                candidates.append(directory)
                if directory == "/" { break }
                directory = HostFiles.directory(of: directory)
            }
        }
        return candidates.first { HostFiles.exists("\($0)/Benchmarks/baseline/main.c") }
    }

    static func currentDirectory() -> String? {
        guard let pointer = getcwd(nil, 0) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    /// $CLANG, the clang beside `swiftc` on PATH, or clang on PATH.
    static func clang() -> String? {
        if let override = getenv("CLANG") { return String(cString: override) }
        if let swiftc = HostFiles.which("swiftc"), let real = HostFiles.resolved(swiftc) {
            let beside = "\(HostFiles.directory(of: real))/clang"
            if HostFiles.isExecutable(beside) { return beside }
        }
        return HostFiles.which("clang")
    }

    /// Compiles Benchmarks/baseline (main.c + baseline.c) with `clang -O2`
    /// into `directory`; returns the executable.
    static func buildBaselineProcess(_ configuration: BenchConfiguration, into directory: String) -> Result<String, BenchFailure> {
        guard let root = sourceRoot(configuration) else {
            return .failure(BenchFailure("Benchmarks/baseline not found; run pvmh bench from the checkout or set PVMH_SOURCE_ROOT"))
        }
        guard let clang = clang() else {
            return .failure(BenchFailure("no clang beside swiftc or on PATH to build the C baseline (set CLANG)"))
        }
        let source = "\(root)/Benchmarks/baseline"
        let output = "\(directory)/pvmh-baseline"
        let arguments = ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-I\(source)/include", "-o", output,
                         "\(source)/main.c", "\(source)/baseline.c"]
        switch Subprocess.run(clang, arguments, timeoutSeconds: 120) {
        case .failure(let failure): return .failure(failure)
        case .success(let outcome) where outcome.exitCode != 0:
            return .failure(BenchFailure("\(clang) -O2 could not build the C baseline (run: \(clang) \(arguments.joined(separator: " ")))"))
        case .success: return .success(output)
        }
    }

    /// `name` on PATH; if missing and `install` names a script in
    /// Benchmarks/, runs it once (it installs Debian's package) and looks again.
    static func qemu(_ name: String, install: String?, _ configuration: BenchConfiguration,
                     progress: (String) -> Void) -> Result<String, BenchFailure> {
        if let path = HostFiles.which(name) { return .success(path) }
        guard let install else {
            return .failure(BenchFailure("\(name) is not installed (pvmh bench without --quick runs Benchmarks/install-qemu to install it)"))
        }
        guard let root = sourceRoot(configuration) else {
            return .failure(BenchFailure("\(name) is not installed and Benchmarks/\(install) was not found to install it"))
        }
        progress("\(name) is missing: running Benchmarks/\(install)")
        _ = Subprocess.run("/bin/bash", ["\(root)/Benchmarks/\(install)"], timeoutSeconds: 600)
        if let path = HostFiles.which(name) { return .success(path) }
        return .failure(BenchFailure("\(name) is not installed and Benchmarks/\(install) could not install it (it needs root and Debian's apt)"))
    }
}
