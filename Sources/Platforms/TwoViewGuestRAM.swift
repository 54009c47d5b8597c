import GuestImage
import KVM
import Lifecycle
import Ownership
import System

/// The file behind guest RAM on a KVM platform.
public enum RAMBackend: String, Sendable, CaseIterable, CustomStringConvertible {
    /// guest_memfd (`KVM_CREATE_GUEST_MEMFD`): memory that belongs to the VM,
    /// bound to a `KVM_MEM_GUEST_MEMFD` memslot (Linux 6.8+ on x86_64 with
    /// `MMAP|INIT_SHARED` from 6.18, 6.18+ on arm64).
    case guestMemfd = "gmem"
    /// An ordinary memfd (`memfd_create`, shmem) in a plain memslot: every
    /// KVM takes it, and it is what pKVM protected VMs use.
    case memfd

    /// The name users read: "guest_memfd", "memfd".
    public var description: String { self == .guestMemfd ? "guest_memfd" : "memfd" }
}

/// Guest RAM as one file bound to one memslot, the way the guest_memfd and
/// memfd platforms (x86_64 and arm64) hold it: KVM faults through one
/// mapping (the memslot's `userspace_addr`), every VMM access goes through a
/// second mapping of the same file — the host view — whose private ranges
/// are `PROT_NONE`, so a host bug that touches private memory faults as it
/// would under pKVM. (Protecting KVM's own mapping would turn the guest's
/// accesses into MMIO exits: Docs/kvm-abi.md.) Hole punching on the file
/// zeroes a page in both views, for guest_memfd and memfd alike.
final class TwoViewGuestRAM: @unchecked Sendable {
    // @unchecked: mutated only from the lifecycle's thread while no vCPU
    // runs, or under the lifecycle's ledger lock (Platform's threading rule).
    let ram: GuestRAM
    /// How the file was made: guest_memfd with its flags, or a memfd.
    enum Backing: Sendable {
        case guestMemfd(GuestMemfdFlags)
        /// `memslotsV2`: whether `KVM_SET_USER_MEMORY_REGION2` exists (else v1).
        case memfd(memslotsV2: Bool)
    }
    let backing: Backing
    private var file: (any GuestMemoryFile)?
    private var kvmView: HostMapping?
    private var hostView: HostMapping?
    private var slot: MemorySlot?
    /// After its own step ran, a repeat is an ordering error; before the
    /// memory existed (a failed create), a step has nothing to do.
    private var released = false
    private var slotDeleted = false

    var backend: RAMBackend {
        if case .guestMemfd = backing { return .guestMemfd }
        return .memfd
    }

    /// What the file is called in resource names and errors.
    private var label: String { backend.description }

    /// Creates the file and both mappings. `preallocate` allocates every page
    /// now (so what teardown gives back is measurable); `check` sees KVM's
    /// mapping before anything is bound (e.g. to find out whether the host may
    /// touch it at all).
    init(vm: VirtualMachine, ram: GuestRAM, backing: Backing, preallocate: Bool = false,
         check: (HostMapping) throws(LifecycleError) -> Void = { _ throws(LifecycleError) in }) throws(LifecycleError) {
        self.ram = ram
        self.backing = backing
        let file: any GuestMemoryFile = try lifecycleError { () throws(KVMError) -> any GuestMemoryFile in
            switch backing {
            case .guestMemfd(let flags): try vm.createGuestMemfd(size: ram.size, flags: flags)
            case .memfd: try SharedMemoryFile(size: ram.size)
            }
        }
        self.file = file
        if preallocate {
            try lifecycleError { () throws(KVMError) in try file.allocate(offset: 0, length: ram.size) }
        }
        let label = backend.description
        let kvmView = try lifecycleError { () throws(KVMError) in
            try file.map(length: ram.size, protection: [.read, .write], what: "\(label) (KVM's view)")
        }
        self.kvmView = kvmView
        hostView = try lifecycleError { () throws(KVMError) in
            try file.map(length: ram.size, protection: [.read, .write], what: "\(label) (host view)")
        }
        try check(kvmView)
    }

    /// Binds the file to memslot 0 at the RAM's base: a `KVM_MEM_GUEST_MEMFD`
    /// slot for guest_memfd, a plain slot over KVM's view for a memfd.
    func bind(to vm: VirtualMachine) throws(LifecycleError) {
        guard let file, let kvmView else { throw .invalidState("bind after release") }
        let address = UInt64(UInt(bitPattern: kvmView.address()))
        let slot: MemorySlot = switch backing {
        case .guestMemfd:
            MemorySlot(slot: 0, flags: .guestMemfd, guestPhysicalAddress: ram.base, size: ram.size,
                       userspaceAddress: address, guestMemfd: file.fd.rawValue, guestMemfdOffset: 0)
        case .memfd:
            MemorySlot(slot: 0, flags: [], guestPhysicalAddress: ram.base, size: ram.size, userspaceAddress: address)
        }
        try setRegion(slot, on: vm)
        self.slot = slot
    }

    private func setRegion(_ slot: MemorySlot, on vm: VirtualMachine) throws(LifecycleError) {
        try lifecycleError { () throws(KVMError) in
            if case .memfd(memslotsV2: false) = backing {
                try vm.setMemoryRegionV1(slot)
            } else {
                try vm.setMemoryRegion(slot)
            }
        }
    }

    /// All of RAM private for the host: the host view becomes PROT_NONE.
    func protectAll() throws(LifecycleError) {
        guard let hostView else { throw .invalidState("makeAllPrivate before create") }
        try lifecycleError { () throws(KVMError) in try hostView.protect(offset: 0, length: Int(ram.size), .none) }
    }

    /// Places the image the way a launch-time populate would: through KVM's
    /// mapping, never the (protected) host view. guest_memfd and memfd pages
    /// start zeroed, so the bss needs no writes.
    /// Writes a zero word into every page through KVM's view, so every page
    /// of the file holds data (fallocate alone leaves shmem pages that
    /// SEEK_DATA reports as holes): the bench's stand-in for a guest that
    /// touched all of its memory.
    func touchEveryPage() {
        guard let kvmView, kvmView.isMapped else { return }
        var offset = 0
        while offset < Int(ram.size) {
            kvmView.address(at: offset).storeBytes(of: 0, as: UInt64.self)
            offset += Int(ram.pageSize)
        }
    }

    func load(_ image: ELFImage) throws(LifecycleError) {
        guard let kvmView else { throw .invalidState("load before create") }
        for segment in image.segments {
            let offset = segment.guestPhysicalAddress &- ram.base
            guard segment.guestPhysicalAddress >= ram.base, offset <= ram.size, segment.memorySize <= ram.size - offset else {
                throw .badInput("segment at gpa 0x\(String(segment.guestPhysicalAddress, radix: 16)) does not fit in guest RAM; give the guest more --memory")
            }
            segment.fileBytes.withUnsafeBytes { bytes in
                if let base = bytes.baseAddress {
                    kvmView.address(at: Int(offset)).copyMemory(from: base, byteCount: bytes.count)
                }
            }
        }
    }

    /// Shared pages become readable and writable in the host view; unshared
    /// ones go back to PROT_NONE. No guest of these platforms can relinquish
    /// a page (the VMM answers pKVM's calls as upstream does, without
    /// MEM_RELINQUISH), so a relinquish reaching here is a VMM bug, refused:
    /// zeroing the page here would only let the VMM check its own work.
    func reflect(_ operation: MemoryRequest.Operation, _ range: GFNRange) throws(LifecycleError) {
        guard let hostView else { throw .invalidState("reflect before create") }
        let offset = Int(range.start * ram.pageSize - ram.base)
        let length = Int(range.count * ram.pageSize)
        let protection: HostMapping.Protection
        switch operation {
        case .share: protection = [.read, .write]
        case .unshare: protection = .none
        case .relinquish, .donate: throw .invalidState("\(label) has no hypervisor to \(operation.rawValue) \(range): only pKVM (Android's) hands pages back and forth")
        }
        try lifecycleError { () throws(KVMError) in
            try hostView.protect(offset: offset, length: length, protection)
        }
    }

    /// The host view's address of `gpa`, if it is mapped RAM.
    /// The host view's protections as the kernel records them (its VMAs in
    /// /proc/self/maps, split by every mprotect), as runs of pages: what
    /// the VMM really enforces, read back rather than remembered.
    func observeHostAccess() -> HostAccessObservation? {
        guard let hostView, hostView.isMapped else { return nil }
        let base = hostView.address(at: 0)
        let start = UInt(bitPattern: base)
        guard let regions = ProcessMappings.regions(overlapping: start..<start + UInt(ram.size)) else { return nil }
        let firstGFN = ram.base / ram.pageSize
        let runs = regions.map { region in
            HostAccessRun(GFNRange(start: firstGFN + UInt64(region.range.lowerBound - start) / ram.pageSize,
                                   count: UInt64(region.range.count) / ram.pageSize),
                          hostMayAccess: region.readable)
        }
        return HostAccessObservation(source: "the kernel's mappings of the host view (/proc/self/maps)", runs: runs)
    }

    func hostAddress(of gpa: UInt64) -> UnsafeMutableRawPointer? {
        guard let hostView, hostView.isMapped, ram.contains(gpa: gpa) else { return nil }
        return hostView.address(at: Int(gpa - ram.base))
    }

    func readHost(gpa: UInt64, length: Int) throws(LifecycleError) -> [UInt8] {
        guard let hostView, hostView.isMapped else { throw .invalidState("the host view of guest memory is not mapped") }
        guard length >= 0, ram.contains(gpa: gpa), UInt64(length) <= ram.size - (gpa - ram.base) else {
            throw .platform("gpa 0x\(String(gpa, radix: 16))+\(length) is outside guest RAM")
        }
        // Every page is probed first (a guarded one-byte read), so a caller
        // that got the ledger wrong gets an error naming the page instead of
        // taking the VMM down with SIGSEGV.
        var page = gpa & ~(ram.pageSize - 1)
        while page < gpa + UInt64(length) {
            let probeAddress = max(page, gpa)
            if case .faulted(let signal, let code) = GuardedHostRead.probe(hostView.address(at: Int(probeAddress - ram.base))) {
                throw .platform("the host view of gpa 0x\(String(probeAddress, radix: 16)) is not readable (signal \(signal), si_code \(code)): the page is private, so the host must not read it")
            }
            page += ram.pageSize
        }
        return Array(UnsafeRawBufferPointer(start: hostView.address(at: Int(gpa - ram.base)), count: length))
    }

    /// After reclaim: proves every page of `ranges` zero. Holes in the file
    /// are zero by the kernel's definition and need no read (reading one
    /// through the mapping would allocate a fresh page); the data extents are
    /// read through the host view and scanned word by word. Without the file
    /// (released) every page is read the slow way, which fails them.
    func checkZero(_ ranges: [GFNRange]) -> ZeroCheck {
        let pageSize = ram.pageSize
        let read = { (gpa: UInt64, length: Int) throws(LifecycleError) -> [UInt8] in try self.readHost(gpa: gpa, length: length) }
        guard let file else { return ZeroCheck(reading: ranges, pageSize: pageSize, with: read) }
        var check = ZeroCheck()
        // The kernel's mappings of the host view: read once, and only when a
        // range has data to read (after reclaim a memfd is usually all holes).
        var readable: [HostAccessRun]?
        var mappingsRead = false
        func scan(_ range: GFNRange) {
            if !mappingsRead {
                readable = observeHostAccess()?.runs.filter(\.hostMayAccess)
                mappingsRead = true
            }
            self.scan(range, into: &check, readable: readable, reading: read)
        }
        for range in ranges {
            let bytes = (range.start * pageSize - ram.base)..<(range.end * pageSize - ram.base)
            let extents: [Range<UInt64>]
            // guest_memfd cannot seek (ESPIPE): read every page (Docs/kvm-abi.md, "memfd").
            do { extents = try file.dataExtents(in: bytes) } catch {
                scan(range)
                continue
            }
            var gfn = range.start
            for extent in extents {
                // Whole pages: an extent that starts or ends inside a page covers it.
                let first = (extent.lowerBound + ram.base) / pageSize
                let end = (extent.upperBound + ram.base + pageSize - 1) / pageSize
                if first > gfn { check.countHoles(first - gfn) }
                let start = max(first, gfn)
                if end > start { scan(GFNRange(start: start, count: end - start)) }
                gfn = max(gfn, end)
            }
            if range.end > gfn { check.countHoles(range.end - gfn) }
        }
        return check
    }

    /// Scans `range` in place through the host view when the kernel's
    /// mappings (`readable`: the host view's readable runs, from
    /// `observeHostAccess`) cover all of it (no copy), else through `read`,
    /// which probes first (a page that stayed private must not crash the VMM).
    private func scan(_ range: GFNRange, into check: inout ZeroCheck, readable: [HostAccessRun]?,
                      reading read: (UInt64, Int) throws(LifecycleError) -> [UInt8]) {
        let pageSize = ram.pageSize
        let covered = readable?.reduce(UInt64(0)) { sum, run in
            let overlap = min(run.range.end, range.end) > max(run.range.start, range.start)
                ? min(run.range.end, range.end) - max(run.range.start, range.start) : 0
            return sum + overlap
        }
        guard let hostView, hostView.isMapped, covered == range.count else { return check.read(range, pageSize: pageSize, with: read) }
        let offset = Int(range.start * pageSize - ram.base)
        check.scan(UnsafeRawBufferPointer(start: hostView.address(at: offset), count: Int(range.count * pageSize)),
                   from: range.start, pageSize: pageSize)
    }

    /// Every page back to the host: private contents discarded by punching
    /// holes (the kernel frees the pages; later reads see zeros), never by a
    /// userspace memset; then the whole host view is readable again.
    func reclaim(formerlyPrivate: [GFNRange]) throws(LifecycleError) {
        guard let file, let hostView else {
            if released { throw .invalidState("reclaim after release: \(label) is already closed") }
            return
        }
        for range in formerlyPrivate {
            try lifecycleError { () throws(KVMError) in
                try file.punchHole(offset: range.start * ram.pageSize - ram.base, length: range.count * ram.pageSize)
            }
        }
        try lifecycleError { () throws(KVMError) in try hostView.protect(offset: 0, length: Int(ram.size), [.read, .write]) }
    }

    /// Deletes the memslot (guest_memfd unbind; for a memfd, KVM lets go of
    /// the mapping).
    func unbind(from vm: VirtualMachine?) throws(LifecycleError) {
        guard let vm, let slot else {
            if slotDeleted { throw .invalidState("unbind: the memslot is already deleted") }
            return
        }
        try setRegion(slot.deletion, on: vm)
        self.slot = nil
        slotDeleted = true
    }

    /// Unmaps both views and closes the file.
    func release() throws(LifecycleError) {
        var errors: [String] = []
        for mapping in [kvmView, hostView].compactMap({ $0 }) where mapping.isMapped {
            do { try mapping.unmap() } catch { errors.append(error.description) }
        }
        if let file, file.fd.isOpen {
            do { try file.fd.close() } catch { errors.append(error.description) }
        }
        if file != nil { released = true }
        kvmView = nil
        hostView = nil
        file = nil
        if !errors.isEmpty { throw .teardown(errors.joined(separator: "; ")) }
    }

    var openResources: [String] {
        var open: [String] = []
        if let file, file.fd.isOpen { open.append(file.fd.kind) }
        for mapping in [kvmView, hostView].compactMap({ $0 }) where mapping.isMapped { open.append(mapping.what) }
        return open
    }
}

/// Runs a KVM call, turning its error into a lifecycle error that keeps the
/// ioctl name and errno.
func lifecycleError<T>(_ body: () throws(KVMError) -> T) throws(LifecycleError) -> T {
    do {
        return try body()
    } catch {
        throw .platform(error.description)
    }
}
