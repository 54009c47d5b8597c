import GuestImage
import KVM
import Lifecycle
import Ownership

/// Guest RAM as one guest_memfd bound to one memslot, the way both gmem
/// platforms (x86_64 and arm64) hold it: KVM faults through one mapping (the
/// memslot's `userspace_addr`), every VMM access goes through a second
/// mapping of the same fd — the host view — whose private ranges are
/// `PROT_NONE`, so a host bug that touches private memory faults as it would
/// under pKVM. (Protecting KVM's own mapping would turn the guest's accesses
/// into MMIO exits: kvm-abi.md.) Hole punching on the fd zeroes a page in
/// both views.
final class GuestMemfdRAM: @unchecked Sendable {
    let ram: GuestRAM
    let flags: GuestMemfdFlags
    private var guestMemfd: GuestMemfd?
    private var kvmView: HostMapping?
    private var hostView: HostMapping?
    private var slot: MemorySlot?
    /// After its own step ran, a repeat is an ordering error; before the
    /// memory existed (a failed create), a step has nothing to do.
    private var released = false
    private var slotDeleted = false

    /// Creates the gmem and both mappings. `preallocate` allocates every page
    /// now (so what teardown gives back is measurable); `check` sees KVM's
    /// mapping before anything is bound (e.g. to find out whether the host may
    /// touch it at all).
    init(vm: VirtualMachine, ram: GuestRAM, flags: GuestMemfdFlags, preallocate: Bool = false,
         check: (HostMapping) throws(LifecycleError) -> Void = { _ throws(LifecycleError) in }) throws(LifecycleError) {
        self.ram = ram
        self.flags = flags
        let gmem = try lifecycleError { () throws(KVMError) in try vm.createGuestMemfd(size: ram.size, flags: flags) }
        guestMemfd = gmem
        if preallocate {
            try lifecycleError { () throws(KVMError) in try gmem.allocate(offset: 0, length: ram.size) }
        }
        let kvmView = try lifecycleError { () throws(KVMError) in
            try gmem.map(length: ram.size, protection: [.read, .write], what: "guest_memfd (KVM's view)")
        }
        self.kvmView = kvmView
        hostView = try lifecycleError { () throws(KVMError) in
            try gmem.map(length: ram.size, protection: [.read, .write], what: "guest_memfd (host view)")
        }
        try check(kvmView)
    }

    /// Binds the gmem to memslot 0 at the RAM's base.
    func bind(to vm: VirtualMachine) throws(LifecycleError) {
        guard let guestMemfd, let kvmView else { throw .invalidState("bind after release") }
        let slot = MemorySlot(slot: 0, flags: .guestMemfd, guestPhysicalAddress: ram.base, size: ram.size,
                              userspaceAddress: UInt64(UInt(bitPattern: kvmView.address())),
                              guestMemfd: guestMemfd.fd.rawValue, guestMemfdOffset: 0)
        try lifecycleError { () throws(KVMError) in try vm.setMemoryRegion(slot) }
        self.slot = slot
    }

    /// All of RAM private for the host: the host view becomes PROT_NONE.
    func protectAll() throws(LifecycleError) {
        guard let hostView else { throw .invalidState("makeAllPrivate before create") }
        try lifecycleError { () throws(KVMError) in try hostView.protect(offset: 0, length: Int(ram.size), .none) }
    }

    /// Places the image the way a launch-time populate would: through KVM's
    /// mapping, never the (protected) host view. guest_memfd pages start
    /// zeroed, so the bss needs no writes.
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
    /// ones go back to PROT_NONE.
    func reflect(_ operation: MemoryRequest.Operation, _ range: GFNRange) throws(LifecycleError) {
        guard let hostView else { throw .invalidState("reflect before create") }
        let offset = Int(range.start * ram.pageSize - ram.base)
        let length = Int(range.count * ram.pageSize)
        try lifecycleError { () throws(KVMError) in
            try hostView.protect(offset: offset, length: length, operation == .share ? [.read, .write] : .none)
        }
    }

    /// The host view's address of `gpa`, if it is mapped RAM.
    func hostAddress(of gpa: UInt64) -> UnsafeMutableRawPointer? {
        guard let hostView, hostView.isMapped, ram.contains(gpa: gpa) else { return nil }
        return hostView.address(at: Int(gpa - ram.base))
    }

    func readHost(gpa: UInt64, length: Int) throws(LifecycleError) -> [UInt8] {
        guard let hostView, hostView.isMapped else { throw .invalidState("the host view of guest memory is not mapped") }
        guard length >= 0, ram.contains(gpa: gpa), UInt64(length) <= ram.size - (gpa - ram.base) else {
            throw .platform("gpa 0x\(String(gpa, radix: 16))+\(length) is outside guest RAM")
        }
        return Array(UnsafeRawBufferPointer(start: hostView.address(at: Int(gpa - ram.base)), count: length))
    }

    /// Every page back to the host: private contents discarded by punching
    /// holes (the kernel frees the pages; later reads see zeros), never by a
    /// userspace memset; then the whole host view is readable again.
    func reclaim(formerlyPrivate: [GFNRange]) throws(LifecycleError) {
        guard let guestMemfd, let hostView else {
            if released { throw .invalidState("reclaim after release: guest_memfd is already closed") }
            return
        }
        for range in formerlyPrivate {
            try lifecycleError { () throws(KVMError) in
                try guestMemfd.punchHole(offset: range.start * ram.pageSize - ram.base, length: range.count * ram.pageSize)
            }
        }
        try lifecycleError { () throws(KVMError) in try hostView.protect(offset: 0, length: Int(ram.size), [.read, .write]) }
    }

    /// Deletes the memslot (guest_memfd unbind).
    func unbind(from vm: VirtualMachine?) throws(LifecycleError) {
        guard let vm, let slot else {
            if slotDeleted { throw .invalidState("unbind: the memslot is already deleted") }
            return
        }
        try lifecycleError { () throws(KVMError) in try vm.setMemoryRegion(slot.deletion) }
        self.slot = nil
        slotDeleted = true
    }

    /// Unmaps both views and closes the gmem fd.
    func release() throws(LifecycleError) {
        var errors: [String] = []
        for mapping in [kvmView, hostView].compactMap({ $0 }) where mapping.isMapped {
            do { try mapping.unmap() } catch { errors.append(error.description) }
        }
        if let guestMemfd, guestMemfd.fd.isOpen {
            do { try guestMemfd.fd.close() } catch { errors.append(error.description) }
        }
        if guestMemfd != nil { released = true }
        kvmView = nil
        hostView = nil
        guestMemfd = nil
        if !errors.isEmpty { throw .teardown(errors.joined(separator: "; ")) }
    }

    var openResources: [String] {
        var open: [String] = []
        if let guestMemfd, guestMemfd.fd.isOpen { open.append(guestMemfd.fd.kind) }
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
