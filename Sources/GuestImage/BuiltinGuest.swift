/// A guest image that travels inside the pvmh binary.
///
/// The images are built from Guests/<arch>/*.S by `Guests/build --generate`,
/// which writes BuiltinGuestBytes.generated.swift; a test rebuilds them and
/// fails if the embedded bytes and a fresh build differ. So one copied `pvmh`
/// binary can boot the demo on a board with no toolchain. Docs/guests.md
/// describes what each guest does and the protocol it speaks.
public struct BuiltinGuest: Sendable, Hashable, Identifiable {
    /// `<arch>-<name>`, e.g. `x86_64-demo`; what `--guest` takes.
    public let name: String
    public let architecture: GuestArchitecture
    /// One line saying what the guest does.
    public let summary: String
    /// The guest's source in the repository, e.g. `Guests/x86_64/demo.S`.
    public let source: String
    private let generated: GeneratedImage

    /// The ELF64 executable, byte for byte what Guests/build writes. Decoded
    /// on each use, so naming a guest costs nothing and a run decodes only
    /// the one it boots (decoding every guest used to be part of every start).
    public var elfBytes: [UInt8] {
        // Both conditions are facts about a generated file that the tests
        // check; failing here means it was edited by hand.
        guard let bytes = Base64.decode(generated.base64), bytes.count == generated.byteCount else {
            fatalError("BuiltinGuestBytes.generated.swift: \(generated.name) is corrupt; run Guests/build --generate")
        }
        return bytes
    }

    public var id: String { name }

    /// Every built-in guest, in Guests/build's table order.
    public static let all: [BuiltinGuest] = generatedImages.map(BuiltinGuest.init(decoding:))

    /// The built-in guest called `name`, or nil.
    public static func named(_ name: String) -> BuiltinGuest? {
        all.first { $0.name == name }
    }

    /// The guest `pvmh run` boots on `architecture` when none is named, or nil
    /// if there is none for it yet.
    public static func defaultGuest(for architecture: GuestArchitecture) -> BuiltinGuest? {
        switch architecture {
        case .x86_64: named("x86_64-demo")
        case .aarch64: named("arm64-demo")
        }
    }

    /// The stress guest for `architecture` (Docs/guests.md).
    public static func stressGuest(for architecture: GuestArchitecture) -> BuiltinGuest? {
        switch architecture {
        case .x86_64: named("x86_64-stress")
        case .aarch64: named("arm64-stress")
        }
    }

    /// The parsed image, checked against the guest's own architecture.
    public func image() throws(ELFError) -> ELFImage {
        try ELFImage(bytes: elfBytes, expecting: architecture)
    }

    private init(decoding generated: GeneratedImage) {
        name = generated.name
        architecture = generated.architecture
        summary = generated.summary
        source = generated.source
        self.generated = generated
    }
}

/// One row of BuiltinGuestBytes.generated.swift, as Guests/build writes it.
struct GeneratedImage: Sendable, Hashable {
    let name: String
    let architecture: GuestArchitecture
    let summary: String
    let source: String
    let byteCount: Int
    let base64: String
}
