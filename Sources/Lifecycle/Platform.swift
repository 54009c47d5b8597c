import GuestImage
import Ownership

/// Guest RAM: one contiguous GPA range.
public struct GuestRAM: Equatable, Sendable {
    public var base: UInt64
    public var size: UInt64
    public var pageSize: UInt64

    public init(base: UInt64 = 0, size: UInt64, pageSize: UInt64 = 4096) {
        self.base = base
        self.size = size
        self.pageSize = pageSize
    }

    public var gfns: GFNRange { GFNRange(start: base / pageSize, count: size / pageSize) }
    public func contains(gpa: UInt64) -> Bool { gpa >= base && gpa - base < size }
}

/// What a host read of guest memory did.
public enum HostAccess: Equatable, Sendable, CustomStringConvertible {
    case readable(UInt8)
    /// The read faulted: signal number and si_code (SIGSEGV/SEGV_ACCERR on a
    /// protected page).
    case faulted(signal: Int32, code: Int32)
    /// The platform has no host view of this page.
    case unmapped

    public var description: String {
        switch self {
        case .readable(let byte): "readable (0x\(String(byte, radix: 16)))"
        case .faulted(let signal, let code): signal == 11 ? "faulted (SIGSEGV, si_code \(code))" : "faulted (signal \(signal), si_code \(code))"
        case .unmapped: "not mapped"
        }
    }
}

/// A named platform and what it enforces, for probe output and the journal.
public struct PlatformDescription: Equatable, Sendable {
    /// Short id used on the command line and in the journal, e.g. `x86_64-gmem`.
    public var id: String
    /// Human name, e.g. "x86_64 KVM + guest_memfd".
    public var name: String
    /// Where private memory lives.
    public var privateMemory: String
    /// How share/unshare reaches the VMM.
    public var transport: String
    /// Who enforces host isolation.
    public var enforcement: String
    /// The same facts as types.
    public var traits: PlatformTraits
    /// How the transport was chosen, when there was a choice (`pvmh run` says so).
    public var transportChoice: (name: String, reason: String)?

    public init(id: String, name: String, privateMemory: String, transport: String, enforcement: String,
                traits: PlatformTraits, transportChoice: (name: String, reason: String)? = nil) {
        self.id = id
        self.name = name
        self.privateMemory = privateMemory
        self.transport = transport
        self.enforcement = enforcement
        self.traits = traits
        self.transportChoice = transportChoice
    }

    public static func == (a: PlatformDescription, b: PlatformDescription) -> Bool {
        a.id == b.id && a.name == b.name && a.privateMemory == b.privateMemory && a.transport == b.transport
            && a.enforcement == b.enforcement && a.traits == b.traits
            && a.transportChoice?.name == b.transportChoice?.name && a.transportChoice?.reason == b.transportChoice?.reason
    }
}

/// One hypervisor the lifecycle can run on. The lifecycle core calls these in
/// the order the protected-VM lifecycle defines; each implementation says in
/// its description what the kernel enforces and what it emulates.
///
/// Threading: `run(vcpu:)`/`complete(vcpu:reply:)` are called only from that
/// vCPU's thread; `requestStop(vcpu:)` from any thread; everything else from
/// the lifecycle's thread while no vCPU runs, except `reflect` and
/// `readHostMemory`, which vCPU threads call under the lifecycle's ledger lock.
public protocol Platform: AnyObject, Sendable {
    var description: PlatformDescription { get }
    var architecture: GuestArchitecture { get }
    /// What the platform offers its guests (RAM base, MMIO, vCPU and memory limits).
    var guestABI: GuestABI { get }
    /// Allocate all of guest memory at creation, so what teardown gives back
    /// is measurable (the regression suite sets it). Platforms whose memory
    /// is not host memory ignore it.
    var preallocate: Bool { get set }

    /// Creates the VM and its guest RAM (not yet private).
    func create(ram: GuestRAM, journal: Journal) throws(LifecycleError)
    /// Makes all of guest RAM private in one step. Returns how, for the journal.
    func makeAllPrivate(_ ram: GuestRAM) throws(LifecycleError) -> String
    /// Places the image in guest memory the way the platform's launch path
    /// does (not through the host view, which is protected by now).
    func load(_ image: ELFImage) throws(LifecycleError)
    /// Creates `count` vCPUs with the boot state for `entry`.
    func createVCPUs(count: Int, entry: UInt64) throws(LifecycleError)
    var vcpuCount: Int { get }

    /// Runs vCPU `vcpu` until an event the core must see.
    func run(vcpu: Int) -> GuestEvent
    /// Completes the event `run` returned before the next `run`.
    func complete(vcpu: Int, reply: GuestReply)
    /// Makes the vCPU's current or next `run` return `.stopped(.stopRequested)`
    /// promptly. Safe from any thread; the caller also signals the vCPU thread.
    func requestStop(vcpu: Int)

    /// Reflects a ledger transition into what the platform enforces
    /// (attributes ioctl, mprotect of the host view, or nothing where the
    /// hypervisor already did it).
    func reflect(_ operation: MemoryRequest.Operation, _ range: GFNRange) throws(LifecycleError)
    /// Reads guest memory through the host's own view. The caller has checked
    /// the ledger says the host may.
    func readHostMemory(gpa: UInt64, length: Int) throws(LifecycleError) -> [UInt8]
    /// Probes what a host read of one byte does, without crashing the VMM.
    func probeHostRead(gpa: UInt64) -> HostAccess
    /// The same for many pages at once (a platform may probe them under one
    /// signal-handler install). Default: one `probeHostRead` each.
    func probeHostReads(gpas: [UInt64]) -> [HostAccess]
    /// What the platform itself records about host access to every page of
    /// guest RAM, without touching guest memory (the kernel's mappings of
    /// the host view, the model's owner table); nil where only probes can
    /// tell (pKVM's stage-2 is the hypervisor's).
    func observeHostAccess() -> HostAccessObservation?
    /// After reclaim: reads every page of `ranges` back and finds any byte
    /// that is not zero. Default: `readHostMemory` in chunks; platforms with
    /// a faster exact way (a memfd's holes) provide their own.
    func checkZero(_ ranges: [GFNRange], pageSize: UInt64) -> ZeroCheck

    // Teardown steps, in the safe order. Each may assume the previous ones ran.
    /// Gives every page back to the host: private contents discarded (read as zero).
    func reclaim(_ reclaim: Reclaim) throws(LifecycleError)
    /// Unbinds guest memory from the VM (deletes the memslots).
    func unbind() throws(LifecycleError)
    /// Releases guest memory (closes guest_memfd, unmaps).
    func release() throws(LifecycleError)
    /// Destroys vCPUs and the VM.
    func destroy() throws(LifecycleError)

    /// Deletes the memslots now, with vCPUs possibly running (the regression
    /// suite's `teardown.delete-memslot-while-running`). Default: `unbind()`.
    func deleteMemslotsNow() -> MemslotDeletion

    /// The fds and mappings this platform still holds, by name ("kvm-vm",
    /// "guest_memfd (host view)"); empty once teardown is complete.
    var openResources: [String] { get }

    /// What the platform itself detected going wrong (a host access to a page
    /// it does not own, ledger and hypervisor disagreeing). Each is a
    /// violation in the verdict.
    var findings: [Finding] { get }
}

/// What deleting the memslots did.
public enum MemslotDeletion: Equatable, Sendable {
    case deleted
    /// The kernel refused, with this errno (a protected VM that has run: EPERM).
    case refused(errno: Int32)
    /// It failed for another reason (a sentence).
    case failed(String)
}

extension Platform {
    public func deleteMemslotsNow() -> MemslotDeletion {
        do {
            try unbind()
            return .deleted
        } catch {
            return .failed(error.description)
        }
    }

    public var findings: [Finding] { [] }
    public func observeHostAccess() -> HostAccessObservation? { nil }
    public func probeHostReads(gpas: [UInt64]) -> [HostAccess] { gpas.map { probeHostRead(gpa: $0) } }
    public var architecture: GuestArchitecture { guestABI.architecture }
    public var preallocate: Bool {
        get { false }
        set {}
    }
}
