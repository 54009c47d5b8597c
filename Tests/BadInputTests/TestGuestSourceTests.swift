import Foundation
import PVMHTestSupport
import Testing

/// The embedded test guests are what their sources assemble to, so a guest
/// can be read and changed as assembly (Guests/*.S), never as a hex blob.
@Suite("the misbehaving test guests match their sources")
struct TestGuestSourceTests {
    @Test func freshAssemblyMatchesTheEmbeddedArrays() throws {
        let guests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Guests")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["bash", guests.appendingPathComponent("assemble").path]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let failure = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "Guests/assemble failed: \(failure)")

        var seen: Set<String> = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let name = fields.first.map(String.init) else { continue }
            let values = fields.dropFirst().compactMap { UInt64($0.dropFirst(2), radix: 16) }
            let bytes = name.hasPrefix("arm64-") ? a64(values.map { UInt32($0) }) : values.map { UInt8($0) }
            seen.insert(name)
            #expect(TestGuests.bySource[name] == bytes, "\(name): paste the line Guests/assemble prints into TestGuests.swift")
        }
        #expect(seen == Set(TestGuests.bySource.keys))
    }
}
