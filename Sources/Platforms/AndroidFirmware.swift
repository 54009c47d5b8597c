import Glibc
import GuestImage
import KVM
import Lifecycle

/// `pvmh run --firmware`: what an Android protected VM runs before the
/// guest (Docs/running-on-arm64.md, "On an Android device").
public enum FirmwareChoice: Equatable, Sendable, CustomStringConvertible {
    /// Boot the guest directly, with no firmware (crosvm's
    /// `--protected-vm-without-firmware`). The default, and the only choice
    /// upstream pKVM has.
    case none
    /// The device's own pVM firmware: `SET_FW_IPA` makes EL2 copy pvmfw into
    /// the firmware region and start vCPU 0 there, with the payload's entry
    /// in X1 and its size in X2. pvmfw verifies the payload's signature
    /// (AVB) and boots only what it trusts; pvmh's guests are not signed.
    case device
    /// A pvmfw-style flat image the VMM loads into the firmware region and
    /// starts vCPU 0 at, with pvmfw's boot registers (crosvm's custom
    /// firmware). `SET_FW_IPA` is not called: EL2 would copy the device's
    /// pvmfw over it.
    case file(path: String, bytes: [UInt8])

    public var description: String {
        switch self {
        case .none: "none (the guest boots directly)"
        case .device: "the device's pvmfw (SET_FW_IPA)"
        case .file(let path, let bytes): "\(path) (\(bytes.count) bytes, loaded by pvmh)"
        }
    }

    /// Reads `--firmware VALUE`: `none`, `device`, or a file of 1 byte to
    /// 4 MiB. The one-sentence refusal names what is wrong.
    public static func parse(_ value: String) -> Result<FirmwareChoice, FirmwareRefusal> {
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
                if UInt64(bytes.count) > AndroidFirmware.regionSize { return .failure(.tooLarge(path: value)) }
                if count < chunk.count { break }
            }
            if ferror(file) != 0 { return .failure(.unreadable(path: value, errno: EIO)) }
            guard !bytes.isEmpty else { return .failure(.empty(path: value)) }
            return .success(.file(path: value, bytes: bytes))
        }
    }
}

/// Why `--firmware` or the firmware set-up was refused, in one sentence.
public enum FirmwareRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(path: String, errno: Int32)
    case empty(path: String)
    case tooLarge(path: String)
    /// The kernel's pKVM is upstream's: no `KVM_CAP_ARM_PROTECTED_VM`.
    case notAndroid
    /// INFO reported no device firmware, so `device` has nothing to load.
    case noDeviceFirmware
    case deviceFirmwareTooLarge(size: UInt64)
    /// Guest RAM too small to hold the payload below the firmware region.
    case payloadOverlapsRegion(payloadEnd: UInt64, region: UInt64)
    /// A `KVM_CAP_ARM_PROTECTED_VM` call failed.
    case kernel(KVMError)

    public var description: String {
        let limit = AndroidFirmware.regionSize >> 20
        switch self {
        case .unreadable(let path, let errno):
            return "--firmware \(path) cannot be read (\(Errno.message(errno))); give a pvmfw-style flat image, device or none"
        case .empty(let path):
            return "--firmware \(path) is empty; give a pvmfw-style flat image of at most \(limit) MiB, device or none"
        case .tooLarge(let path):
            return "--firmware \(path) is larger than the \(limit) MiB firmware region; give a smaller image"
        case .notAndroid:
            return "--firmware needs Android's pKVM (KVM_CAP_ARM_PROTECTED_VM answers 0 on this protected VM: the kernel's pKVM is upstream's, which boots the guest directly); run with --firmware none"
        case .noDeviceFirmware:
            return "--firmware device: this device has no pVM firmware (KVM_CAP_ARM_PROTECTED_VM INFO reports firmware_size 0); run with --firmware none or a firmware file"
        case .deviceFirmwareTooLarge(let size):
            return "--firmware device: the device's pvmfw is \(size) bytes, more than the \(limit) MiB region pvmh reserves for it; run with --firmware none"
        case .payloadOverlapsRegion(let end, let region):
            return "the guest image ends at 0x\(String(end, radix: 16)), past the firmware region at 0x\(String(region, radix: 16)) (the top \(limit) MiB of guest RAM); give the guest more --memory"
        case .kernel(let error):
            let operation = "\(error.operation) failed with \(error.errnoName)"
            switch (error.operation, error.errno) {
            case (ProtectedVMCommand.setFirmwareIPA.operation, EBUSY):
                return "\(operation): the VM has run already, and its firmware can only be chosen before the first KVM_RUN"
            case (ProtectedVMCommand.setFirmwareIPA.operation, EINVAL):
                return "\(operation): the kernel has no pVM firmware to load (no pvmfw memory was reserved at boot); run with --firmware none"
            default:
                return "\(operation) (\(Errno.message(error.errno))); run with --firmware none"
            }
        }
    }
}

/// How vCPU 0 starts and what the VMM loads for the firmware.
public struct FirmwareBoot: Equatable, Sendable {
    /// Bytes the VMM writes at `regionIPA` (custom firmware); nil when EL2
    /// loads the device's pvmfw.
    public var image: [UInt8]?
    public var regionIPA: UInt64
    /// vCPU 0's registers: pvmfw's boot protocol (X0 = device tree, 0 for
    /// none; X1 = the payload's entry; X2 = its size).
    public var vcpu0: ARM64BootState
}

/// Android's protected-VM capability on one VM, asked the way crosvm asks
/// it (Docs/kvm-abi.md, "Android's protected-VM ABI"): whether it answers
/// (the flavour of pKVM), INFO, and, for the device's firmware, SET_FW_IPA
/// before the first run. Pure over `AndroidProtectedVMControl`, so the flow
/// is tested against a double with the kernel's rules.
public struct AndroidFirmware: Equatable, Sendable {
    /// The firmware region's size (crosvm's AARCH64_PROTECTED_VM_FW_MAX_SIZE).
    public static let regionSize: UInt64 = 4 << 20

    public let choice: FirmwareChoice
    public let flavour: PKVMFlavour
    /// INFO's answer; nil on upstream pKVM, or where INFO failed.
    public let info: ProtectedVMInfo?
    /// Why INFO failed, when a run without firmware went on regardless.
    public var infoError: String?

    /// Where the firmware region is: the top 4 MiB of guest RAM, so it is
    /// part of the one memslot (donated, zeroed at reclaim, in the ledger).
    public static func regionIPA(ram: GuestRAM) -> UInt64 { ram.base + ram.size - regionSize }

    /// At creation: the VM's flavour and INFO; refuses a firmware this
    /// kernel cannot give before anything else happens.
    public static func begin(_ choice: FirmwareChoice, vm: any AndroidProtectedVMControl) throws(FirmwareRefusal) -> AndroidFirmware {
        // Upstream does not know the number and answers 0 (or refuses it).
        let answer = (try? vm.checkProtectedVMCapability()) ?? 0
        guard answer > 0 else {
            if choice != .none { throw .notAndroid }
            return AndroidFirmware(choice: choice, flavour: .upstream, info: nil)
        }
        let info: ProtectedVMInfo
        do {
            info = try vm.protectedVMInfo()
        } catch {
            // A run without firmware does not need INFO: say so and go on.
            guard choice == .none else { throw .kernel(error) }
            return AndroidFirmware(choice: choice, flavour: .android, info: nil, infoError: FirmwareRefusal.kernel(error).description)
        }
        if choice == .device {
            guard info.firmwareSize > 0 else { throw .noDeviceFirmware }
            guard info.firmwareSize <= regionSize else { throw .deviceFirmwareTooLarge(size: info.firmwareSize) }
        }
        return AndroidFirmware(choice: choice, flavour: .android, info: info)
    }

    /// Before the first run, once the payload (`image`) is known: checks it
    /// fits below the region and, for the device's pvmfw, makes SET_FW_IPA.
    /// nil for `.none`: vCPU 0 starts at the guest's entry.
    public func place(_ image: ELFImage, ram: GuestRAM, vm: any AndroidProtectedVMControl) throws(FirmwareRefusal) -> FirmwareBoot? {
        guard choice != .none else { return nil }
        let region = Self.regionIPA(ram: ram)
        let start = image.segments.map(\.guestPhysicalAddress).min() ?? image.entry
        let end = image.segments.map { $0.guestPhysicalAddress + $0.memorySize }.max() ?? image.entry
        guard end <= region, ram.size > Self.regionSize else { throw .payloadOverlapsRegion(payloadEnd: end, region: region) }
        let registers = ARM64BootState(entry: region, arguments: [0, image.entry, end - start, 0])
        switch choice {
        case .none:
            return nil
        case .device:
            do { try vm.setProtectedVMFirmwareIPA(region) } catch { throw .kernel(error) }
            return FirmwareBoot(image: nil, regionIPA: region, vcpu0: registers)
        case .file(_, let bytes):
            return FirmwareBoot(image: bytes, regionIPA: region, vcpu0: registers)
        }
    }

    /// The journal's account: the flavour, the device's firmware and the choice.
    public var fields: [(String, JSONValue)] {
        [("pkvm", .string(flavour.rawValue)), ("firmware", .string(choice.description)),
         ("device_firmware_bytes", info.map { .uint($0.firmwareSize) } ?? .null),
         ("info_error", infoError.map { .string($0) } ?? .null)]
    }
}
