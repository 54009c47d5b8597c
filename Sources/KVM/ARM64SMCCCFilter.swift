import CKVM
import Glibc

/// One range of the arm64 SMCCC filter: what KVM does with HVC/SMC calls
/// whose function id is in `base ..< base + count`.
///
/// Set with `KVM_SET_DEVICE_ATTR` on the VM fd, group
/// `KVM_ARM_VM_SMCCC_CTRL` (0), attribute `KVM_ARM_VM_SMCCC_FILTER` (0),
/// before any vCPU runs. A forwarded call exits with `KVM_EXIT_HYPERCALL`
/// (`nr` = function id; the arguments are not copied: read X1…X3 with
/// `KVM_GET_ONE_REG`). Refused on protected VMs (EINVAL). Since Linux 6.4.
public struct ARM64SMCCCFilter: Equatable, Sendable {
    /// `KVM_SMCCC_FILTER_*`.
    public enum Action: UInt8, Sendable {
        /// KVM handles the call as it would without a filter.
        case handle = 0
        /// The guest gets NOT_SUPPORTED.
        case deny = 1
        /// `KVM_SMCCC_FILTER_FWD_TO_USER`: the VMM answers the call.
        case forwardToUser = 2
    }

    /// `KVM_ARM_VM_SMCCC_CTRL`.
    public static let group: UInt32 = 0
    /// `KVM_ARM_VM_SMCCC_FILTER`.
    public static let attribute: UInt64 = 0

    public var base: UInt32
    public var count: UInt32
    public var action: Action

    public init(base: UInt32, count: UInt32, action: Action) {
        self.base = base
        self.count = count
        self.action = action
    }

    /// The ranges the arm64 guest_memfd platform forwards so it can answer
    /// pKVM's vendor hypercalls itself: `0xC6000000…0xC6000004` (MEMINFO,
    /// MEM_SHARE, MEM_UNSHARE and two ids pKVM leaves unsupported) and
    /// `KVM_FUNC_FEATURES` (`0x86000000`). PSCI stays with KVM.
    public static let pKVMVendorCalls: [ARM64SMCCCFilter] = [
        ARM64SMCCCFilter(base: 0xC600_0000, count: 5, action: .forwardToUser),
        ARM64SMCCCFilter(base: 0x8600_0000, count: 1, action: .forwardToUser),
    ]

    /// Whether `functionID` falls in this range.
    public func contains(_ functionID: UInt64) -> Bool {
        functionID >= UInt64(base) && functionID - UInt64(base) < UInt64(count)
    }

    /// The C payload (`struct kvm_smccc_filter`, padding zeroed: KVM rejects
    /// non-zero padding with EINVAL).
    public var raw: ckvm_smccc_filter {
        var value = ckvm_smccc_filter()
        value.base = base
        value.nr_functions = count
        value.action = action.rawValue
        return value
    }

    /// What each errno of `KVM_SET_DEVICE_ATTR(KVM_ARM_VM_SMCCC_FILTER)` means.
    static func hint(errno: Int32) -> String? {
        switch errno {
        case ENXIO, ENOTTY: "this kernel has no SMCCC filter (it needs Linux 6.4 or newer on arm64)"
        case EINVAL: "the range or action was refused (protected VMs refuse every filter; the SMCCC architecture range cannot be filtered)"
        case EBUSY: "a vCPU has already run; the filter must be set before the first KVM_RUN"
        case EEXIST: "the range overlaps one that is already filtered"
        default: nil
        }
    }
}

extension VirtualMachine {
    /// Adds one SMCCC filter range. Must precede the first `KVM_RUN` of any vCPU.
    /// The corresponding ioctl is `KVM_SET_DEVICE_ATTR` with
    /// `KVM_ARM_VM_SMCCC_CTRL`/`KVM_ARM_VM_SMCCC_FILTER`. Needs Linux 6.4+ on arm64.
    public func setSMCCCFilter(_ filter: ARM64SMCCCFilter) throws(KVMError) {
        var payload = filter.raw
        let fd = self.fd.rawValue
        let result = withUnsafeMutablePointer(to: &payload) { pointer in
            var request = ckvm_device_attr(flags: 0, group: ARM64SMCCCFilter.group, attr: ARM64SMCCCFilter.attribute,
                                           addr: UInt64(UInt(bitPattern: pointer)))
            return withUnsafeMutablePointer(to: &request) { ckvm_ioctl(fd, CKVM_SET_DEVICE_ATTR, $0) }
        }
        if result < 0 {
            let error = Int32(-result)
            throw KVMError("KVM_SET_DEVICE_ATTR(KVM_ARM_VM_SMCCC_FILTER 0x\(String(filter.base, radix: 16, uppercase: true))+\(filter.count))",
                           errno: error, hint: ARM64SMCCCFilter.hint(errno: error))
        }
    }
}

extension VMType {
    /// `KVM_VM_TYPE_ARM_PROTECTED` with an IPA size: bits 7:0 carry the
    /// number of IPA bits (0 = KVM's default of 40), as for any arm64 VM type.
    public static func armProtected(ipaBits: UInt8) -> VMType {
        VMType(rawValue: VMType.armProtected.rawValue | UInt(ipaBits))
    }

    /// `KVM_VM_TYPE_ARM_IPA_SIZE_MASK`.
    public static let armIPASizeMask: UInt = 0xFF

    /// The IPA size field a VM needs to reach `highestAddress`: 0 (KVM's
    /// default 40 bits) when that suffices, else the number of bits — which
    /// needs `KVM_CAP_ARM_VM_IPA_SIZE` to be at least that.
    public static func armIPABits(toReach highestAddress: UInt64) -> UInt8 {
        let needed = highestAddress == 0 ? 1 : UInt64.bitWidth - highestAddress.leadingZeroBitCount
        return needed <= 40 ? 0 : UInt8(needed)
    }
}
