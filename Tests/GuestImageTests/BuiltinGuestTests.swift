import Testing
@testable import GuestImage

@Suite("Built-in guests")
struct BuiltinGuestTests {
    @Test("the registry lists the generated guests, with unique names")
    func registry() {
        #expect(BuiltinGuest.all.map(\.name) == BuiltinGuest.generatedImages.map(\.name))
        #expect(Set(BuiltinGuest.all.map(\.name)).count == BuiltinGuest.all.count)
        #expect(BuiltinGuest.named("x86_64-demo")?.architecture == .x86_64)
        #expect(BuiltinGuest.named("no-such-guest") == nil)
        #expect(BuiltinGuest.defaultGuest(for: .x86_64)?.name == "x86_64-demo")
        for guest in BuiltinGuest.all {
            #expect(guest.name.hasPrefix(guest.architecture == .x86_64 ? "x86_64-" : "arm64-"))
            #expect(!guest.summary.isEmpty && !guest.summary.contains("\n"))
            #expect(guest.source.hasPrefix("Guests/") && guest.source.hasSuffix(".S"))
        }
    }

    @Test("every embedded image decodes to its recorded size", arguments: BuiltinGuest.generatedImages.map(\.name))
    func decodes(name: String) throws {
        let generated = try #require(BuiltinGuest.generatedImages.first { $0.name == name })
        let guest = try #require(BuiltinGuest.named(name))
        #expect(guest.elfBytes.count == generated.byteCount)
    }

    @Test("every built-in image parses for its architecture with the entry in code",
          arguments: BuiltinGuest.all.map(\.name))
    func parses(name: String) throws {
        let guest = try #require(BuiltinGuest.named(name))
        let image = try guest.image()
        #expect(image.machine == guest.architecture)
        let code = image.segments.filter { $0.flags.contains(.executable) }
        #expect(code.contains { $0.guestPhysicalRange.contains(image.entry) })
        #expect(image.segments.allSatisfy { !$0.flags.contains([.writable, .executable]) }, "no W+X segment")
    }

    @Test("the x86_64 demo fits the layout its VMM gives it: 2 MiB of RAM at 0, linked at 1 MiB")
    func x86DemoLayout() throws {
        let image = try #require(BuiltinGuest.named("x86_64-demo")).image()
        #expect(image.entry == 0x10_0000)
        #expect(image.guestPhysicalExtent.lowerBound == 0x10_0000)
        #expect(image.guestPhysicalExtent.upperBound <= 0x20_0000)
        try image.validate(placement: 0, ramSize: 0x20_0000, mmio: [])
        // Page tables, stack and shared_page: a writable segment with a zero-filled tail.
        #expect(image.segments.contains { $0.flags.contains(.writable) && $0.zeroFillSize >= 0x1000 })
        #expect(throws: ELFError.wrongMachine(found: .x86_64, expected: .aarch64)) {
            try ELFImage(bytes: BuiltinGuest.named("x86_64-demo")!.elfBytes, expecting: .aarch64)
        }
    }
}
