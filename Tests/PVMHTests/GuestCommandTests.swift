import GuestImage
import Glibc
import Testing

@Suite("pvmh guest")
struct GuestCommandTests {
    @Test("guest list lists every built-in guest, x86_64-demo included")
    func list() {
        let result = pvmh("guest", "list")
        #expect(result.status == 0)
        #expect(result.err.isEmpty)
        #expect(result.outLines.count == BuiltinGuest.all.count)
        let demo = result.outLines.first { $0.hasPrefix("x86_64-demo ") }
        #expect(demo != nil, "\(result.out)")
        #expect(demo?.contains("x86_64") == true)
        for guest in BuiltinGuest.all {
            #expect(result.outLines.contains { $0.hasPrefix(guest.name + " ") && $0.hasSuffix(guest.summary) })
        }
    }

    @Test("guest export writes the embedded ELF byte for byte", arguments: BuiltinGuest.all.map(\.name))
    func export(_ name: String) throws {
        let guest = try #require(BuiltinGuest.named(name))
        let directory = try TemporaryDirectory()
        let path = directory.file("\(name).elf")
        let result = pvmh("guest", "export", name, path)
        #expect(result.status == 0)
        #expect(result.err.isEmpty)
        #expect(result.out == "wrote \(name) (\(guest.architecture), \(guest.elfBytes.count) bytes) to \(path)\n")
        let written = try #require(readFile(path))
        #expect(written == guest.elfBytes)
        #expect(written.prefix(4) == [0x7F, 0x45, 0x4C, 0x46])
    }

    @Test("the demo guest export equals BuiltinGuest.named(\"x86_64-demo\")")
    func exportDemo() throws {
        let expected = try #require(BuiltinGuest.named("x86_64-demo")).elfBytes
        let directory = try TemporaryDirectory()
        let path = directory.file("demo.elf")
        #expect(pvmh("guest", "export", "x86_64-demo", path).status == 0)
        #expect(readFile(path) == expected)
    }

    @Test("exporting an unknown guest is exit 2 and writes nothing", arguments: ["x86_64-nope", "demo", ""])
    func exportUnknown(_ name: String) throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("out.elf")
        let result = pvmh("guest", "export", name, path)
        #expect(result.status == 2)
        #expect(result.err.contains("no built-in guest named \(name)"))
        #expect(result.err.contains("x86_64-demo"), "the message lists the names")
        #expect(readFile(path) == nil)
    }

    @Test("export needs NAME and FILE")
    func exportArity() {
        let result = pvmh("guest", "export", "x86_64-demo")
        #expect(result.status == 2)
        #expect(result.err.contains("usage: pvmh guest export NAME FILE"))
    }

    @Test("export to an unwritable path fails with the path in the message")
    func exportUnwritable() {
        let path = "/nonexistent-dir/demo.elf"
        let result = pvmh("guest", "export", "x86_64-demo", path)
        #expect(result.status == 2)
        #expect(result.err.contains("cannot write \(path)"))
    }
}
