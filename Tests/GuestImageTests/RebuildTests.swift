import Foundation
import Testing
import GuestImage

/// The embedded guests must be exactly what their sources build to: otherwise
/// a guest fix never reaches the binary, or the binary carries bytes nobody can
/// reproduce. clang and ld.lld ship with every Swift toolchain, so this test
/// needs nothing a machine that builds pvmh lacks; if they are missing or
/// cannot target a guest's architecture it fails with Guests/build's message.
@Suite("Guests/build reproduces the embedded guests")
struct RebuildTests {
    @Test("a fresh Guests/build matches every embedded ELF byte for byte")
    func rebuildMatchesEmbedded() throws {
        let root = try packageRoot()
        let outDir = FileManager.default.temporaryDirectory
            .appendingPathComponent("pvmh-guest-rebuild-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: outDir) }

        let build = try run(root.appendingPathComponent("Guests/build").path, ["--out", outDir.path])
        try #require(build.status == 0, "Guests/build failed (exit \(build.status)): \(build.stderr)")

        for guest in BuiltinGuest.all {
            let file = outDir.appendingPathComponent("\(guest.name).elf")
            let data = try #require(
                FileManager.default.contents(atPath: file.path),
                "Guests/build did not write \(file.lastPathComponent); is \(guest.name) in its GUESTS table?")
            let built = [UInt8](data)
            let firstDifference = zip(built, guest.elfBytes).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            #expect(
                built.count == guest.elfBytes.count && firstDifference == nil,
                """
                \(guest.name): the embedded image (\(guest.elfBytes.count) bytes) differs from a fresh build \
                (\(built.count) bytes)\(firstDifference.map { ", first at offset \($0)" } ?? ""); \
                run Guests/build --generate and commit the result
                """)
        }

        let builtNames = try FileManager.default.contentsOfDirectory(atPath: outDir.path)
            .filter { $0.hasSuffix(".elf") && !$0.hasSuffix(".debug.elf") }
            .map { String($0.dropLast(".elf".count)) }
        #expect(
            Set(builtNames) == Set(BuiltinGuest.all.map(\.name)),
            "Guests/build and the embedded registry list different guests; run Guests/build --generate")
    }

    @Test("two builds are byte-identical (no timestamps, build ids or paths)")
    func deterministic() throws {
        let root = try packageRoot()
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("pvmh-guest-det-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let script = root.appendingPathComponent("Guests/build").path
        for sub in ["a", "b/deeper"] {
            let build = try run(script, ["--out", base.appendingPathComponent(sub).path])
            try #require(build.status == 0, "Guests/build failed (exit \(build.status)): \(build.stderr)")
        }
        for guest in BuiltinGuest.all {
            let first = FileManager.default.contents(atPath: base.appendingPathComponent("a/\(guest.name).elf").path)
            let second = FileManager.default.contents(
                atPath: base.appendingPathComponent("b/deeper/\(guest.name).elf").path)
            #expect(first != nil && first == second, "\(guest.name) differs between two builds")
        }
    }
}

/// C guests are embedded from their checked-in compiler output (X.c → X.s,
/// see Guests/build), so the tests above hold on every toolchain. This one
/// closes the remaining gap: the X.s must be what X.c compiles to. Only the
/// clang release that wrote an X.s can reproduce it, so on another toolchain
/// (`Guests/build --check-c` exits 3) the suite is skipped with that reason.
@Suite(
    "Guests/build: checked-in C compiler output matches its C source",
    .enabled(
        if: CheckedInAssembly.result.status != 3,
        "the checked-in .s files were written by another clang release; the images built from them are still compared"))
struct CheckedInAssemblyTests {
    @Test("Guests/build --check-c: every X.s is this clang's output for X.c")
    func assemblyMatchesCSource() {
        let result = CheckedInAssembly.result
        #expect(result.status == 0, "Guests/build --check-c failed (exit \(result.status)): \(result.stderr)")
    }
}

/// `Guests/build --check-c`, run once (the suite's condition needs it too).
enum CheckedInAssembly {
    static let result: (status: Int32, stderr: String) = {
        do {
            let root = try packageRoot()
            return try run(root.appendingPathComponent("Guests/build").path, ["--check-c"])
        } catch {
            return (-1, "\(error)")
        }
    }()
}

/// The repository root: the nearest directory above this file (symlinks
/// resolved, so a scratch package that links the test sources works too)
/// that holds Guests/build.
private func packageRoot(filePath: String = #filePath) throws -> URL {
    var directory = URL(fileURLWithPath: filePath).resolvingSymlinksInPath().deletingLastPathComponent()
    while directory.path != "/" {
        if FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("Guests/build").path) {
            return directory
        }
        directory = directory.deletingLastPathComponent()
    }
    throw RebuildTestError.noPackageRoot(filePath)
}

private enum RebuildTestError: Error, CustomStringConvertible {
    case noPackageRoot(String)

    var description: String {
        switch self {
        case .noPackageRoot(let path):
            "No directory above \(path) holds an executable Guests/build; run the tests from a pvmh checkout."
        }
    }
}

/// Runs `executable` and returns its exit status and standard error.
private func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let errorPipe = Pipe()
    process.standardError = errorPipe
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let errorData = errorPipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let stderr = String(decoding: errorData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    return (process.terminationStatus, stderr)
}
