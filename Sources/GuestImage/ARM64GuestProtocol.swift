/// How the built-in arm64 guests talk to the host (Docs/guests.md). The same
/// image runs on the pKVM model, on arm64 KVM/pKVM, and under QEMU's `virt`
/// machine, so every address is one QEMU `virt` also decodes harmlessly.
public enum ARM64GuestProtocol {
    /// Guest RAM starts where QEMU `virt` puts it.
    public static let ramBase: UInt64 = 0x4000_0000
    /// Images link here (QEMU may put a DTB at the start of RAM).
    public static let imageBase: UInt64 = 0x4008_0000
    /// PL011 UART data register (QEMU `virt`). FR is at +0x18.
    public static let uartBase: UInt64 = 0x0900_0000
    public static let uartFlagOffset: UInt64 = 0x18
    /// The harness window: QEMU `virt`'s last virtio-mmio transport, which
    /// ignores writes when no device backs it. 64-bit registers: the guest
    /// writes ARG0..ARG2, then REPORT with the event code.
    public static let harnessBase: UInt64 = 0x0A00_3E00
    public static let harnessSize: UInt64 = 0x200
    public static let reportOffset: UInt64 = 0x00
    public static let argumentOffsets: [UInt64] = [0x08, 0x10, 0x18]
    /// TRANSPORT (32-bit, read by the guest once at boot): how its vendor
    /// hypercalls travel. 0 everywhere but on a VMM that offers the doorbell,
    /// so QEMU (an unbacked virtio-mmio slot reads 0 there) needs nothing.
    public static let transportOffset: UInt64 = 0x20
    /// CALL (64-bit, doorbell only): the guest stores the function id after
    /// ARG0..ARG2 = X1..X3, then loads the result (X0) from it.
    public static let callOffset: UInt64 = 0x28

    /// The values of TRANSPORT.
    public enum Transport: UInt64, Sendable {
        /// SMCCC over `hvc #0`: pKVM, the model, the SMCCC filter, QEMU.
        case hvc = 0
        /// Vendor-hypervisor calls (owner 6) through CALL; PSCI stays on
        /// `hvc`. For KVM without the SMCCC filter (Linux before 6.4).
        case mmioDoorbell = 1
    }

    /// Event codes written to REPORT. 1–3 as on x86; 4/5 are the guest's
    /// claims of a successful share/unshare, which a VMM that cannot see EL2
    /// (real pKVM) verifies by probing host access.
    public enum Report: UInt64, Sendable {
        case message = 1    // ARG0 = IPA, ARG1 = length
        case check = 2      // ARG0 = id, ARG1 = 1 pass / 0 fail, ARG2 = value got
        case done = 3       // ARG0 = status (0 = every check passed)
        case shared = 4     // ARG0 = IPA
        case unshared = 5   // ARG0 = IPA
        case corrupted = 6  // ARG0 = IPA of the word, ARG1 = written, ARG2 = read back
        case relinquished = 7  // ARG0 = IPA the guest has just given back (MEM_RELINQUISH)
    }
}

/// SMCCC function ids a pKVM guest uses (Docs/kvm-abi.md).
public enum SMCCCFunction {
    public static let kvmFeatures: UInt64 = 0x8600_0000
    public static let hypMeminfo: UInt64 = 0xC600_0002
    public static let memShare: UInt64 = 0xC600_0003
    public static let memUnshare: UInt64 = 0xC600_0004
    /// Android's pKVM only (Docs/kvm-abi.md, "Android's protected-VM ABI").
    public static let mmioGuardInfo: UInt64 = 0xC600_0005
    public static let mmioGuardEnroll: UInt64 = 0xC600_0006
    public static let mmioGuardMap: UInt64 = 0xC600_0007
    public static let mmioGuardUnmap: UInt64 = 0xC600_0008
    public static let memRelinquish: UInt64 = 0xC600_0009
    public static let psciVersion: UInt64 = 0x8400_0000
    public static let psciCPUOff: UInt64 = 0x8400_0002
    public static let psciCPUOn: UInt64 = 0xC400_0003
    public static let psciSystemOff: UInt64 = 0x8400_0008
    public static let psciSystemReset: UInt64 = 0x8400_0009
    public static let psciFeatures: UInt64 = 0x8400_000A

    /// `KVM_FUNC_FEATURES` bits a protected VM sees on upstream pKVM:
    /// FEATURES, HYP_MEMINFO, MEM_SHARE, MEM_UNSHARE (0x1d).
    public static let protectedVMFeatures: UInt64 = PKVMFlavour.upstream.features

    /// The vendor-hypervisor function number (bits 15:0) of `function`: its
    /// bit in the `KVM_FUNC_FEATURES` bitmap.
    public static func featureBit(_ function: UInt64) -> UInt64 { function & 0xFFFF }
}

/// Which pKVM a protected VM runs on, as its `KVM_FUNC_FEATURES` bitmap
/// tells it (Docs/kvm-abi.md, "Android's protected-VM ABI").
public enum PKVMFlavour: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Upstream Linux (7.1+): MEMINFO, MEM_SHARE, MEM_UNSHARE.
    case upstream
    /// Android common kernels (android14-6.1 as modelled): upstream's calls
    /// plus the MMIO guard (INFO, ENROLL, MAP, UNMAP) and MEM_RELINQUISH.
    case android

    /// The functions EL2 answers for a protected VM.
    public var functions: [UInt64] {
        let upstream = [SMCCCFunction.kvmFeatures, SMCCCFunction.hypMeminfo, SMCCCFunction.memShare, SMCCCFunction.memUnshare]
        switch self {
        case .upstream: return upstream
        case .android:
            return upstream + [SMCCCFunction.mmioGuardInfo, SMCCCFunction.mmioGuardEnroll, SMCCCFunction.mmioGuardMap,
                               SMCCCFunction.mmioGuardUnmap, SMCCCFunction.memRelinquish]
        }
    }

    /// The `KVM_FUNC_FEATURES` bitmap (X0): upstream 0x1d, Android 0x3fd.
    public var features: UInt64 {
        functions.reduce(0) { $0 | 1 << SMCCCFunction.featureBit($1) }
    }

    /// Whether `function` is one of this flavour's vendor calls.
    public func offers(_ function: UInt64) -> Bool { functions.contains(function & 0xFFFF_FFFF) }

    public var description: String {
        switch self {
        case .upstream: "upstream pKVM"
        case .android: "Android pKVM"
        }
    }
}

/// SMCCC / PSCI return values.
public enum SMCCCReturn {
    public static let success: Int64 = 0
    public static let notSupported: Int64 = -1
    /// PSCI INVALID_PARAMETERS (SMCCC's -2 means NOT_REQUIRED).
    public static let psciInvalidParameters: Int64 = -2
    /// SMCCC_RET_INVALID_PARAMETER: pKVM's answer to a bad MEMINFO/MEM_SHARE/MEM_UNSHARE.
    public static let invalidParameter: Int64 = -3
    /// PSCI DENIED.
    public static let psciDenied: Int64 = -3
    /// PSCI ALREADY_ON.
    public static let psciAlreadyOn: Int64 = -4
}
