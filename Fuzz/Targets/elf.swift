// libFuzzer target: the ELF64 loader and flat-binary loader
// (Sources/GuestImage). Any input must either parse into an image that keeps
// every promise ELFImage documents, or fail with one sentence; never trap.
import GuestImage

/// The arm64 VM layout `pvmh run --platform model` validates against.
let arm64MMIO: [Range<UInt64>] = [0x0900_0000..<0x0900_1000, 0x0A00_3E00..<0x0A00_4000]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzELF(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for expected in [nil, GuestArchitecture.x86_64, .aarch64] {
        do {
            let image = try ELFImage(bytes: bytes, expecting: expected)
            checkPromises(image, expected: expected)
            for (start, size, mmio) in [(UInt64(0), UInt64(4 << 20), [Range<UInt64>]()), (0x4000_0000, 4 << 20, arm64MMIO),
                                        (0x4000_0000, UInt64.max, arm64MMIO), (0, UInt64.max, [0..<UInt64.max])] {
                do { try image.validate(placement: start, ramSize: size, mmio: mmio) } catch { checkSentence(error) }
            }
        } catch {
            checkSentence(error)
        }
    }
    // A flat binary: the first 8 bytes are the load address, the rest the code.
    if size >= 8 {
        let address = bytes.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        for machine in GuestArchitecture.allCases {
            do {
                let image = try ELFImage(flat: Array(bytes.dropFirst(8)), loadAddress: address, machine: machine)
                precondition(image.entry == address && image.segments.count == 1)
                checkPromises(image, expected: machine)
            } catch {
                checkSentence(error)
            }
        }
    }
    return 0
}

/// What ELFImage promises about every image it returns.
func checkPromises(_ image: ELFImage, expected: GuestArchitecture?) {
    if let expected { precondition(image.machine == expected, "wrong machine accepted") }
    precondition(!image.segments.isEmpty, "an image without segments")
    let sorted = image.segments.sorted { $0.guestPhysicalAddress < $1.guestPhysicalAddress }
    for segment in image.segments {
        precondition(UInt64(segment.fileBytes.count) <= segment.memorySize, "file bytes exceed memory")
        precondition(!segment.guestPhysicalAddress.addingReportingOverflow(segment.memorySize).overflow, "segment end overflows")
        precondition(segment.memorySize > 0, "an empty segment was kept")
    }
    for (lower, upper) in zip(sorted, sorted.dropFirst()) {
        precondition(!lower.guestPhysicalRange.overlaps(upper.guestPhysicalRange), "overlapping segments accepted")
    }
    precondition(image.segments.contains { segment in
        segment.flags.contains(.executable) && image.entry >= segment.guestPhysicalAddress
            && image.entry - segment.guestPhysicalAddress < UInt64(segment.fileBytes.count)
    }, "entry outside executable file bytes")
    precondition(image.machine != .aarch64 || image.entry % 4 == 0, "misaligned arm64 entry")
    _ = image.guestPhysicalExtent
}

/// Every error is one sentence: not empty, one line, no trailing full stop.
func checkSentence(_ error: ELFError) {
    let text = error.description
    precondition(!text.isEmpty && !text.contains("\n") && !text.hasSuffix("."), "not one sentence: \(text)")
}
