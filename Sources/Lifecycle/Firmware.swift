import Glibc
import GuestImage

/// `pvmh run --firmware`: what a protected VM on Android's pKVM runs before
/// the guest (Docs/running-on-arm64.md, "On an Android device"). The layout
/// and boot registers are the same on the real platform and on the model.
public enum FirmwareChoice: Equatable, Sendable, CustomStringConvertible {
    /// Boot the guest directly, with no firmware (crosvm's
    /// `--protected-vm-without-firmware`). The default, and the only choice
    /// upstream pKVM has.
    case none
    /// The device's own pVM firmware: `SET_FW_IPA` makes EL2 copy pvmfw into
    /// the firmware region and start vCPU 0 there. pvmfw verifies the
    /// payload's signature (AVB) and boots only what it trusts; pvmh's
    /// guests are not signed.
    case device
    /// A pvmfw-style flat image the VMM loads into the firmware region and
    /// starts vCPU 0 at (crosvm's custom firmware). `SET_FW_IPA` is not
    /// called: EL2 would copy the device's pvmfw over it.
    case file(path: String, bytes: [UInt8])

    public var description: String {
        switch self {
        case .none: "none (the guest boots directly)"
        case .device: "the device's pvmfw (SET_FW_IPA)"
        case .file(let path, let bytes): "\(path) (\(bytes.count) bytes, loaded by pvmh)"
        }
    }

    /// Reads `--firmware VALUE`: `none`, `device`, or a file of 1 byte to
    /// `FirmwareRegion.size`. The refusal is one sentence naming the problem.
    public static func parse(_ value: String) -> Result<FirmwareChoice, FirmwareFileError> {
        switch value {
        case "none": return .success(.none)
        case "device": return .success(.device)
        default:
            guard let file = fopen(value, "rb") else { return .failure(.unreadable(path: value, errno: errno)) }
            defer { fclose(file) }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = fread(&chunk, 1, chunk.count, file)
                if count > 0 { bytes += chunk[0..<count] }
                if UInt64(bytes.count) > FirmwareRegion.size { return .failure(.tooLarge(path: value)) }
                if count < chunk.count { break }
            }
            if ferror(file) != 0 { return .failure(.unreadable(path: value, errno: EIO)) }
            guard !bytes.isEmpty else { return .failure(.empty(path: value)) }
            return .success(.file(path: value, bytes: bytes))
        }
    }
}

/// Why a `--firmware FILE` was refused, before any VM.
public enum FirmwareFileError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(path: String, errno: Int32)
    case empty(path: String)
    case tooLarge(path: String)

    public var description: String {
        let limit = FirmwareRegion.size >> 20
        switch self {
        case .unreadable(let path, let errno):
            let message = strerror(errno).map { String(cString: $0) } ?? "errno \(errno)"
            return "--firmware \(path) cannot be read (\(message)); give a pvmfw-style flat image, device or none"
        case .empty(let path):
            return "--firmware \(path) is empty; give a pvmfw-style flat image of at most \(limit) MiB, device or none"
        case .tooLarge(let path):
            return "--firmware \(path) is larger than the \(limit) MiB firmware region; give a smaller image"
        }
    }
}

/// How vCPU 0 starts and what the VMM loads for the firmware.
public struct FirmwareBoot: Equatable, Sendable {
    /// Bytes the VMM writes at `regionIPA` (a firmware file); nil when EL2
    /// loads the device's pvmfw.
    public var image: [UInt8]?
    public var regionIPA: UInt64
    /// vCPU 0's PC: the region.
    public var pc: UInt64 { regionIPA }
    /// vCPU 0's X0…X3, pvmfw's boot protocol: X0 = the device tree (0: none),
    /// X1 = the payload's entry, X2 = its size in bytes.
    public var registers: [UInt64]

    public var payloadEntry: UInt64 { registers[1] }
    public var payloadBytes: UInt64 { registers[2] }

    /// The journal's `load.firmware` fields; `loadedBy` says who wrote it.
    public func journalFields(loadedBy: String) -> [(String, JSONValue)] {
        [("ipa", .uint(regionIPA)), ("bytes", image.map { .int(Int64($0.count)) } ?? .null), ("loaded_by", .string(loadedBy)),
         ("payload_entry", .uint(payloadEntry)), ("payload_bytes", .uint(payloadBytes))]
    }
}

/// Where the firmware goes: the top `size` bytes of guest RAM, so it is part
/// of the one memslot (donated, zeroed at reclaim, in the ledger). crosvm
/// puts the same 4 MiB region just below its RAM (Docs/kvm-abi.md,
/// "Android's protected-VM ABI").
public enum FirmwareRegion {
    /// crosvm's AARCH64_PROTECTED_VM_FW_MAX_SIZE.
    public static let size: UInt64 = 4 << 20

    public static func ipa(ram: GuestRAM) -> UInt64 { ram.base + ram.size - size }

    /// The boot of `payload` through the firmware region, or the sentence
    /// saying the payload does not fit below it.
    public static func boot(of payload: ELFImage, ram: GuestRAM, firmwareImage: [UInt8]?) -> Result<FirmwareBoot, FirmwarePlacementError> {
        let region = ram.size > size ? ipa(ram: ram) : ram.base
        let start = payload.segments.map(\.guestPhysicalAddress).min() ?? payload.entry
        let end = payload.segments.map { $0.guestPhysicalAddress + $0.memorySize }.max() ?? payload.entry
        guard ram.size > size, end <= region else { return .failure(FirmwarePlacementError(payloadEnd: end, region: region)) }
        return .success(FirmwareBoot(image: firmwareImage, regionIPA: region, registers: [0, payload.entry, end - start, 0]))
    }
}

/// The guest image reaches into the firmware region.
public struct FirmwarePlacementError: Error, Equatable, Sendable, CustomStringConvertible {
    public var payloadEnd: UInt64
    public var region: UInt64

    public init(payloadEnd: UInt64, region: UInt64) {
        self.payloadEnd = payloadEnd
        self.region = region
    }

    public var description: String {
        "the guest image ends at 0x\(String(payloadEnd, radix: 16)), past the firmware region at 0x\(String(region, radix: 16)) (the top \(FirmwareRegion.size >> 20) MiB of guest RAM); give the guest more --memory"
    }
}
