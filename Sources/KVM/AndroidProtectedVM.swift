/// `struct kvm_protected_vm_info` (Android common kernels, 64 bytes): what
/// `KVM_ENABLE_CAP(KVM_CAP_ARM_PROTECTED_VM)` with flags INFO copies out.
public struct ProtectedVMInfo: Equatable, Sendable {
    /// The size of the device's pVM firmware (pvmfw) in bytes; 0 when the
    /// bootloader reserved none.
    public var firmwareSize: UInt64

    public init(firmwareSize: UInt64) {
        self.firmwareSize = firmwareSize
    }

    /// The struct's size: `firmware_size` and seven reserved words.
    public static let size = 64

    /// Decodes the 64 bytes INFO wrote (little-endian, as arm64 stores them).
    public init(bytes: [UInt8]) {
        firmwareSize = bytes.prefix(8).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }
}

/// The subcommands of `KVM_CAP_ARM_PROTECTED_VM`, in `kvm_enable_cap.flags`.
public enum ProtectedVMCommand: UInt32, Sendable, CustomStringConvertible {
    /// `args[0]` = the IPA where EL2 loads the device's pvmfw (before the first run).
    case setFirmwareIPA = 0
    /// `args[0]` = a pointer to a `kvm_protected_vm_info`.
    case info = 1
    /// android16-6.12: FF-A for the VM (not used by pvmh).
    case setFFA = 2

    public var description: String {
        switch self {
        case .setFirmwareIPA: "SET_FW_IPA"
        case .info: "INFO"
        case .setFFA: "SET_FFA"
        }
    }

    /// How an error names the call: ioctl, capability and subcommand.
    public var operation: String { "KVM_ENABLE_CAP(KVM_CAP_ARM_PROTECTED_VM, \(self))" }
}

/// What Android's protected-VM capability asks of a VM fd. `VirtualMachine`
/// makes the ioctls; tests put a double with the kernel's rules in its place.
public protocol AndroidProtectedVMControl {
    /// `KVM_CHECK_EXTENSION(KVM_CAP_ARM_PROTECTED_VM)` on the VM fd: 1 on a
    /// protected VM of an Android kernel; upstream does not know the number (0).
    func checkProtectedVMCapability() throws(KVMError) -> Int
    /// INFO: the device's firmware size.
    func protectedVMInfo() throws(KVMError) -> ProtectedVMInfo
    /// SET_FW_IPA: EL2 loads the device's pvmfw at `ipa` and starts vCPU 0
    /// there (EBUSY once the VM has run, EINVAL with no pvmfw).
    func setProtectedVMFirmwareIPA(_ ipa: UInt64) throws(KVMError)
}

extension VirtualMachine: AndroidProtectedVMControl {
    public func checkProtectedVMCapability() throws(KVMError) -> Int {
        try check(.armProtectedVM)
    }

    public func protectedVMInfo() throws(KVMError) -> ProtectedVMInfo {
        var bytes = [UInt8](repeating: 0, count: ProtectedVMInfo.size)
        let result: Result<Void, KVMError> = bytes.withUnsafeMutableBytes { raw in
            let address = UInt64(UInt(bitPattern: raw.baseAddress))
            return Result { () throws(KVMError) in
                try enable(.armProtectedVM, flags: ProtectedVMCommand.info.rawValue, arguments: [address, 0, 0, 0],
                           name: ProtectedVMCommand.info.operation)
            }
        }
        try result.get()
        return ProtectedVMInfo(bytes: bytes)
    }

    public func setProtectedVMFirmwareIPA(_ ipa: UInt64) throws(KVMError) {
        try enable(.armProtectedVM, flags: ProtectedVMCommand.setFirmwareIPA.rawValue, arguments: [ipa, 0, 0, 0],
                   name: ProtectedVMCommand.setFirmwareIPA.operation)
    }
}
