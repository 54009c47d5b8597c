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
        #expect(BuiltinGuest.defaultGuest(for: .aarch64)?.name == "arm64-demo")
        #expect(BuiltinGuest.named("arm64-cdemo")?.architecture == .aarch64)
        for guest in BuiltinGuest.all {
            #expect(guest.name.hasPrefix(guest.architecture == .x86_64 ? "x86_64-" : "arm64-"))
            #expect(!guest.summary.isEmpty && !guest.summary.contains("\n"))
            // One assembly file, or a directory of sources (Guests/build's two row kinds).
            #expect(guest.source.hasPrefix("Guests/") && (guest.source.hasSuffix(".S") || guest.source.hasSuffix("/")))
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

    @Test("the arm64 guests fit QEMU virt's layout: linked at imageBase, inside 2 MiB of RAM, clear of the devices",
          arguments: ["arm64-demo", "arm64-cdemo"])
    func arm64Layout(name: String) throws {
        let image = try #require(BuiltinGuest.named(name)).image()
        #expect(image.entry == ARM64GuestProtocol.imageBase)
        #expect(image.guestPhysicalExtent.lowerBound == ARM64GuestProtocol.imageBase)
        let uart = ARM64GuestProtocol.uartBase..<ARM64GuestProtocol.uartBase + 0x1000
        let harness = ARM64GuestProtocol.harnessBase..<ARM64GuestProtocol.harnessBase + ARM64GuestProtocol.harnessSize
        try image.validate(placement: ARM64GuestProtocol.ramBase, ramSize: 0x20_0000, mmio: [uart, harness])
        // Stack (and the demo's shared_page) in a writable zero-filled tail.
        #expect(image.segments.contains { $0.flags.contains(.writable) && $0.zeroFillSize >= 0x1000 })
        #expect(throws: ELFError.wrongMachine(found: .aarch64, expected: .x86_64)) {
            try ELFImage(bytes: BuiltinGuest.named(name)!.elfBytes, expecting: .x86_64)
        }
    }
}
