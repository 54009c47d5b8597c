import Glibc
import GuestImage
import KVM
import Lifecycle

/// Why the kernel cannot give a run the firmware `--firmware` asked for, in
/// one sentence (a bad `--firmware` value is a `FirmwareFileError`, earlier).
public enum FirmwareRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    /// The kernel's pKVM is upstream's: no `KVM_CAP_ARM_PROTECTED_VM`.
    case notAndroid
    /// INFO reported no device firmware, so `device` has nothing to load.
    case noDeviceFirmware
    case deviceFirmwareTooLarge(size: UInt64)
    /// Guest RAM too small to hold the payload below the firmware region.
    case placement(FirmwarePlacementError)
    /// A `KVM_CAP_ARM_PROTECTED_VM` call failed.
    case kernel(KVMError)

    public var description: String {
        let limit = FirmwareRegion.size >> 20
        switch self {
        case .notAndroid:
            return "--firmware needs Android's pKVM (KVM_CAP_ARM_PROTECTED_VM answers 0 on this protected VM: the kernel's pKVM is upstream's, which boots the guest directly); run with --firmware none"
        case .noDeviceFirmware:
            return "--firmware device: this device has no pVM firmware (KVM_CAP_ARM_PROTECTED_VM INFO reports firmware_size 0); run with --firmware none or a firmware file"
        case .deviceFirmwareTooLarge(let size):
            return "--firmware device: the device's pvmfw is \(size) bytes, more than the \(limit) MiB region pvmh reserves for it; run with --firmware none"
        case .placement(let error):
            return error.description
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

/// Android's protected-VM capability on one VM, asked the way crosvm asks
/// it (Docs/kvm-abi.md, "Android's protected-VM ABI"): whether it answers
/// (the flavour of pKVM), INFO, and, for the device's firmware, SET_FW_IPA
/// before the first run. Pure over `AndroidProtectedVMControl`, so the flow
/// is tested against a double with the kernel's rules.
public struct AndroidFirmware: Equatable, Sendable {
    public let choice: FirmwareChoice
    public let flavour: PKVMFlavour
    /// INFO's answer; nil on upstream pKVM, or where INFO failed.
    public let info: ProtectedVMInfo?
    /// Why INFO failed, when a run without firmware went on regardless.
    public var infoError: String?

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
            guard info.firmwareSize <= FirmwareRegion.size else { throw .deviceFirmwareTooLarge(size: info.firmwareSize) }
        }
        return AndroidFirmware(choice: choice, flavour: .android, info: info)
    }

    /// Before the first run, once the payload (`image`) is known: checks it
    /// fits below the region and, for the device's pvmfw, makes SET_FW_IPA.
    /// nil for `.none`: vCPU 0 starts at the guest's entry.
    public func place(_ image: ELFImage, ram: GuestRAM, vm: any AndroidProtectedVMControl) throws(FirmwareRefusal) -> FirmwareBoot? {
        let firmwareImage: [UInt8]?
        switch choice {
        case .none: return nil
        case .device: firmwareImage = nil
        case .file(_, let bytes): firmwareImage = bytes
        }
        let boot: FirmwareBoot
        switch FirmwareRegion.boot(of: image, ram: ram, firmwareImage: firmwareImage) {
        case .success(let placed): boot = placed
        case .failure(let error): throw .placement(error)
        }
        if choice == .device {
            do { try vm.setProtectedVMFirmwareIPA(boot.regionIPA) } catch { throw .kernel(error) }
        }
        return boot
    }

    /// The journal's account: the flavour, the device's firmware and the choice.
    public var fields: [(String, JSONValue)] {
        [("pkvm", .string(flavour.rawValue)), ("firmware", .string(choice.description)),
         ("device_firmware_bytes", info.map { .uint($0.firmwareSize) } ?? .null),
         ("info_error", infoError.map { .string($0) } ?? .null)]
    }
}
