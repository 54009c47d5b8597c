/// The parameter block of the stress guests (Guests/stress/core.h): the
/// VMM writes the run's seed, round count, RAM and vCPU count into the
/// image before loading it, so the guest needs no boot protocol for them
/// and every architecture gets them the same way. The block is found by its
/// magic in a writable segment's file bytes; an image with one is a guest
/// that starts its own secondaries (arm64) or expects every vCPU at its
/// entry with its index (x86_64), so it may run on several vCPUs.
public struct StressParameters: Equatable, Sendable {
    public var seed: UInt64
    /// Share/unshare rounds per vCPU; 0 runs until the VMM stops the guest.
    public var rounds: UInt64
    public var ramBase: UInt64
    public var ramSize: UInt64
    public var vcpus: Int

    /// The most vCPUs the guests have stacks for (`MAX_VCPUS` in core.h).
    public static let maximumVCPUs = 8
    /// Rounds when none are asked for.
    public static let defaultRounds: UInt64 = 256

    /// How long a stress run of `memory` bytes may take before a VMM calls
    /// it stuck: 30 s, and 1 s per 4 MiB, since every vCPU writes and reads
    /// back every page. The slowest measured: 1 GiB on 4 vCPUs in a debug
    /// build of the model, 152 s; on this host's emulating nested KVM, 87 s.
    public static func timeoutSeconds(memory: UInt64) -> Double { 30 + Double(memory >> 22) }
    /// "PVMHSTRS", then the layout's version.
    static let magic: [UInt8] = Array("PVMHSTRS".utf8)
    static let version: UInt64 = 1
    /// magic, version, seed, rounds, ram_base, ram_size, vcpus: 8 bytes each.
    static let blockSize = 7 * 8

    public init(seed: UInt64, rounds: UInt64, ramBase: UInt64, ramSize: UInt64, vcpus: Int) {
        self.seed = seed
        self.rounds = rounds
        self.ramBase = ramBase
        self.ramSize = ramSize
        self.vcpus = vcpus
    }

    /// The block as the guest reads it (little-endian).
    var bytes: [UInt8] {
        var out = StressParameters.magic
        for value in [StressParameters.version, seed, rounds, ramBase, ramSize, UInt64(vcpus)] {
            withUnsafeBytes(of: value.littleEndian) { out += $0 }
        }
        return out
    }

    /// Where the block is: segment index (in `segments`) and byte offset.
    static func locate(in image: ELFImage) -> (segment: Int, offset: Int)? {
        for (index, segment) in image.segments.enumerated() where segment.flags.contains(.writable) {
            let bytes = segment.fileBytes
            guard bytes.count >= blockSize else { continue }
            var offset = 0
            while offset + blockSize <= bytes.count {
                if bytes[offset] == magic[0], Array(bytes[offset..<offset + 8]) == magic {
                    let version = bytes[offset + 8..<offset + 16].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                    if version == StressParameters.version { return (index, offset) }
                }
                offset += 8     // the block is 8-byte aligned
            }
        }
        return nil
    }
}

extension ELFImage {
    /// Whether the image carries the stress guests' parameter block.
    public var takesStressParameters: Bool { StressParameters.locate(in: self) != nil }

    /// The image with `parameters` written into its block; nil when it has none.
    public func applying(_ parameters: StressParameters) -> ELFImage? {
        guard let (index, offset) = StressParameters.locate(in: self) else { return nil }
        var replaced = segments
        let old = replaced[index]
        var bytes = old.fileBytes
        bytes.replaceSubrange(offset..<offset + StressParameters.blockSize, with: parameters.bytes)
        replaced[index] = LoadSegment(index: old.index, guestPhysicalAddress: old.guestPhysicalAddress, virtualAddress: old.virtualAddress,
                                      fileBytes: bytes, memorySize: old.memorySize, flags: old.flags)
        return ELFImage(machine: machine, entry: entry, segments: replaced)
    }
}

extension ELFImage {
    /// An image with the same entry and segments checked by the parser (only
    /// file bytes inside a segment change).
    init(machine: GuestArchitecture, entry: UInt64, segments: [LoadSegment]) {
        self.machine = machine
        self.entry = entry
        self.segments = segments
    }
}
