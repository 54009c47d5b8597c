import GuestImage

/// The guest-facing facts of a platform, in one place: where RAM starts,
/// which MMIO windows its devices decode, how many vCPUs and how much memory
/// its guests can use, and which built-in guest boots by default. The CLI
/// validates options against it and the checks build their VMs from it;
/// neither asks which platform class it holds.
public struct GuestABI: Equatable, Sendable {
    public var architecture: GuestArchitecture
    public var ramBase: UInt64
    public var mmioWindows: [Range<UInt64>]
    public var maximumVCPUs: Int
    /// Why `maximumVCPUs` is the limit, as a clause ("the pKVM model runs up to 8").
    public var vcpuLimitReason: String
    /// nil: only the host's RAM limits guest memory.
    public var maximumMemory: UInt64?
    public var memoryLimitReason: String?
    /// The built-in guest that boots when none is named.
    public var defaultGuest: String

    /// The arm64 guests' machine (Docs/guests.md): RAM at QEMU virt's
    /// 0x4000_0000, the PL011 UART and the harness window.
    static func arm64(maximumVCPUs: Int, vcpuLimitReason: String) -> GuestABI {
        GuestABI(architecture: .aarch64, ramBase: ARM64GuestProtocol.ramBase,
                 mmioWindows: [ARM64GuestProtocol.uartBase..<ARM64GuestProtocol.uartBase + 0x1000,
                               ARM64GuestProtocol.harnessBase..<ARM64GuestProtocol.harnessBase + ARM64GuestProtocol.harnessSize],
                 maximumVCPUs: maximumVCPUs, vcpuLimitReason: vcpuLimitReason, maximumMemory: nil, memoryLimitReason: nil,
                 defaultGuest: "arm64-demo")
    }

    /// How many vCPUs pvmh gives a VM on KVM: the stress guests have stacks
    /// for 8. vCPUs are threads, so more than the host has CPUs is allowed
    /// (they take turns); the kernel's own limit (KVM_CAP_MAX_VCPUS) is
    /// checked when they are created.
    public static let kvmVCPULimit = 8

    /// arm64 KVM (protected or not): secondaries start powered off until
    /// the guest's PSCI CPU_ON, so single-processor guests ignore them.
    public static let arm64KVM = arm64(maximumVCPUs: kvmVCPULimit,
                                       vcpuLimitReason: "pvmh runs up to \(kvmVCPULimit) vCPUs on KVM, as many as its stress guests use")

    /// The pKVM model: secondaries start powered off until PSCI CPU_ON.
    public static let arm64Model = arm64(maximumVCPUs: 8, vcpuLimitReason: "the pKVM model runs up to 8")

    /// x86_64 KVM: RAM at 0, port I/O only; every vCPU starts at the entry
    /// in 32-bit protected mode with its index in EDX and gets the RAM size
    /// in ESI, so at 4 GiB it would read as 0 (Docs/guests.md).
    public static let x86_64KVM = GuestABI(
        architecture: .x86_64, ramBase: 0, mmioWindows: [], maximumVCPUs: kvmVCPULimit,
        vcpuLimitReason: "pvmh runs up to \(kvmVCPULimit) vCPUs on KVM, as many as its stress guests use",
        maximumMemory: 4095 << 20, memoryLimitReason: "x86_64 guests get the RAM size in the 32-bit ESI register",
        defaultGuest: "x86_64-demo")

    /// What the KVM platforms of the architecture pvmh was built for offer.
    public static var hostKVM: GuestABI {
        #if arch(x86_64)
        x86_64KVM
        #else
        arm64KVM
        #endif
    }

    /// Guest RAM of `size` bytes where this ABI puts it.
    public func ram(size: UInt64) -> GuestRAM {
        GuestRAM(base: ramBase, size: size)
    }
}

/// What a platform is made of, as types: the VM flavour, what backs guest
/// RAM, and how share/unshare reaches (or does not reach) the VMM. The CLI
/// and the checks decide on these, never on a platform's id or class.
public struct PlatformTraits: Equatable, Sendable {
    public enum Flavour: String, Sendable {
        /// A pKVM protected VM: the hypervisor isolates its memory.
        case protectedVM = "protected VM"
        /// An ordinary KVM VM: the VMM's host view enforces privacy.
        case plainVM = "plain VM"
        /// The software pKVM model.
        case model
    }

    public enum Memory: String, Sendable {
        case guestMemfd = "guest_memfd"
        /// memfd (shmem) memory: the memfd platforms and pKVM protected VMs.
        case memfd
        /// The model's own memory.
        case model
    }

    public enum Transport: String, Sendable {
        /// x86 vmcall forwarded as KVM_EXIT_HYPERCALL: the VMM decides.
        case hypercallExit = "hypercall exit"
        /// x86 port-I/O doorbell: the VMM decides.
        case portDoorbell = "port doorbell"
        /// arm64 SMCCC filter: the VMM decides.
        case smcccFilter = "SMCCC filter"
        /// arm64 harness MMIO doorbell: the VMM decides.
        case mmioDoorbell = "MMIO doorbell"
        /// The hypervisor handles share/unshare and the VMM is notified
        /// (pKVM, the model).
        case hypervisorHandled = "hypervisor-handled"

        /// Whether the VMM's ledger decides the request (rather than being
        /// told what the hypervisor decided).
        public var vmmDecides: Bool { self != .hypervisorHandled }
    }

    public var flavour: Flavour
    public var memory: Memory
    public var transport: Transport

    /// Whether every private page is closed to the host from creation (the
    /// VMM's PROT_NONE host view), so any of them may be probed. pKVM
    /// donates a page at the guest's first touch, and the model follows it.
    public var privateFromCreation: Bool { flavour == .plainVM }

    /// Whether the VMM hears of a share/unshare only after the hypervisor
    /// made it, from the guest's claim (pKVM: EL2 answers the HVC itself).
    /// A vCPU stopped between its call and its claim leaves the ledger one
    /// page behind the hypervisor: at most one page per vCPU stopped mid-run
    /// (the guests claim after every call, Docs/guests.md).
    public var learnsAfterTheFact: Bool { flavour == .protectedVM }

    public init(flavour: Flavour, memory: Memory, transport: Transport) {
        self.flavour = flavour
        self.memory = memory
        self.transport = transport
    }
}
