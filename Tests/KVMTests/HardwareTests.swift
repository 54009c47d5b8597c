import Glibc
import KVM
import PVMHTestSupport
import Testing

/// The few things only a real /dev/kvm can answer. Runs where /dev/kvm opens,
/// or everywhere with PVMH_REQUIRE_KVM=1 (then a missing device fails: the
/// suite's init throws).
@Suite("real /dev/kvm", .enabled(if: KVMGate.enabled, "needs read/write /dev/kvm"), .serialized)
struct HardwareTests {
    static let page: UInt64 = 4096
    let system: KVMSystem

    init() throws {
        system = try KVMSystem(path: KVMGate.path)
    }

    @Test("KVM API version is 12")
    func apiVersion() throws {
        #expect(try system.apiVersion() == 12)
        #expect(KVMSystem.expectedAPIVersion == 12)
        #expect(KVMSystem.isAvailable(path: KVMGate.path))
    }

    @Test("the system and VM fds answer capabilities alike; an unknown one is 0")
    func capabilities() throws {
        let vm = try system.createVM()
        #expect(try vm.check(.guestMemfd) == (try system.check(.guestMemfd)))
        #expect(try vm.check(.userMemory2) == (try system.check(.userMemory2)))
        #expect(try system.check(Capability(rawValue: 0x7FFF_0000)) == 0)
    }

    /// Upstream KVM does not know Android's 0xffbadab1: it answers 0, and
    /// KVM_ENABLE_CAP refuses it with EINVAL, named with its subcommand. The
    /// number travels unsigned (a sign-extended long would be another cap).
    @Test("Android's KVM_CAP_ARM_PROTECTED_VM on an upstream VM: 0, and INFO/SET_FW_IPA refused with EINVAL, named")
    func androidCapabilityOnUpstream() throws {
        let vm = try system.createVM()
        defer { try? vm.fd.close() }
        #expect(try vm.checkProtectedVMCapability() == 0)
        #expect(throws: KVMError(ProtectedVMCommand.info.operation, errno: EINVAL)) { try vm.protectedVMInfo() }
        #expect(throws: KVMError(ProtectedVMCommand.setFirmwareIPA.operation, errno: EINVAL)) { try vm.setProtectedVMFirmwareIPA(0x7FC0_0000) }
    }

    @Test("two mappings of one memfd see the same bytes; a punched page reads zero")
    func memfdTwoViewsAndPunchHole() throws {
        let file = try SharedMemoryFile(size: 4 * Self.page)
        let kvmView = try file.map(length: file.size, protection: [.read, .write], what: "kvm view")
        let hostView = try file.map(length: file.size, protection: [.read, .write], what: "host view")
        for pageIndex in 0..<4 {
            kvmView.address(at: pageIndex * Int(Self.page)).storeBytes(of: UInt8(0xA0 + pageIndex), as: UInt8.self)
        }
        #expect((0..<4).map { hostView.address(at: $0 * Int(Self.page)).load(as: UInt8.self) } == [0xA0, 0xA1, 0xA2, 0xA3])
        try file.punchHole(offset: Self.page, length: 2 * Self.page)
        #expect((0..<4).map { hostView.address(at: $0 * Int(Self.page)).load(as: UInt8.self) } == [0xA0, 0, 0, 0xA3])
        #expect((0..<4).map { kvmView.address(at: $0 * Int(Self.page)).load(as: UInt8.self) } == [0xA0, 0, 0, 0xA3])
        try hostView.unmap()
        try kvmView.unmap()
        try file.fd.close()
    }

    @Test("a plain memslot over a memfd binds and is deleted, with the v1 ioctl and (where offered) v2")
    func plainMemslot() throws {
        let vm = try system.createVM()
        let size: UInt64 = 64 * 1024
        let file = try SharedMemoryFile(size: size)
        let view = try file.map(length: size, protection: [.read, .write], what: "kvm view")
        let slot = MemorySlot(slot: 0, flags: [], guestPhysicalAddress: 0x10_0000, size: size,
                              userspaceAddress: UInt64(UInt(bitPattern: view.address())))
        try vm.setMemoryRegionV1(slot)
        var overlap = slot
        overlap.slot = 1
        let error = #expect(throws: KVMError.self) { try vm.setMemoryRegionV1(overlap) }
        #expect(error?.operation == "KVM_SET_USER_MEMORY_REGION(slot 1)")
        #expect(error?.errno == EEXIST)
        try vm.setMemoryRegionV1(slot.deletion)
        if try system.check(.userMemory2) > 0 {
            try vm.setMemoryRegion(overlap)
            try vm.setMemoryRegion(overlap.deletion)
        }
        try view.unmap()
        try file.fd.close()
    }

    @Test("createVCPU maps a kvm_run of at least 2352 bytes")
    func createVCPU() throws {
        let vm = try system.createVM()
        let vcpu = try vm.createVCPU(id: 0)
        #expect(vcpu.id == 0)
        #expect(vcpu.fd.isOpen)
        #expect(vcpu.run.isMapped)
        #expect(vcpu.run.length >= VCPUExit.Layout.size)
        #expect(vcpu.run.length == (try system.vcpuMmapSize()))
        let duplicate = #expect(throws: KVMError.self) { try vm.createVCPU(id: 0) }
        #expect(duplicate?.operation == "KVM_CREATE_VCPU(0)")
        #expect(duplicate?.errno == EEXIST)
    }

    /// Counted in a child process so a concurrent suite (LifecycleTests boots
    /// VMs in the same test process) cannot add or remove KVM fds mid-count.
    @Test("every fd of a VM is closed after the explicit closes")
    func noFDLeft() async {
        let result = await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            func fail(_ text: String) -> Never {
                let line = Array("fd-audit: \(text)\n".utf8)
                _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
                exit(1)
            }
            let before = FileDescriptorAudit.openKVMDescriptors()
            do {
                let system = try KVMSystem(path: KVMGate.path)
                let vm = try system.createVM()
                // Guest RAM as every KVM takes it: a memfd in a plain memslot.
                let gmem = try SharedMemoryFile(size: 64 * 1024)
                let view = try gmem.map(length: gmem.size, protection: [.read, .write], what: "kvm view")
                let slot = MemorySlot(slot: 0, flags: [], guestPhysicalAddress: 0, size: gmem.size,
                                      userspaceAddress: UInt64(UInt(bitPattern: view.address())))
                try vm.setMemoryRegionV1(slot)
                let vcpu = try vm.createVCPU(id: 0)
                let during = FileDescriptorAudit.openKVMDescriptors()
                guard during.count == before.count + 4 else { fail("expected /dev/kvm, vm, guest RAM memfd and vcpu fds, saw \(during)") }
                guard during.contains(where: { $0.contains("kvm-vm") }),
                      during.contains(where: { $0.contains("kvm-vcpu") }),
                      during.contains(where: { $0.contains("memfd:pvmh-guest-ram") }) else { fail("unexpected fd names \(during)") }
                // The teardown order: unbind, release guest memory, then vCPU and VM.
                try vm.setMemoryRegionV1(slot.deletion)
                try view.unmap()
                try gmem.fd.close()
                try vcpu.run.unmap()
                try vcpu.fd.close()
                try vm.fd.close()
                try system.fd.close()
                let after = FileDescriptorAudit.openKVMDescriptors()
                guard after == before else { fail("before \(before), after \(after)") }
            } catch {
                fail("\(error)")
            }
            exit(0)
        }
        if let result {
            let text = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(!text.contains("fd-audit:"), "\(text)")
        }
    }
}

/// guest_memfd on real /dev/kvm, where the kernel offers it.
@Suite("real /dev/kvm: guest_memfd", .enabled(if: KVMGate.guestMemfd, Comment(rawValue: KVMGate.guestMemfdReason)), .serialized)
struct GuestMemfdHardwareTests {
    static let page: UInt64 = 4096
    let system: KVMSystem

    init() throws {
        system = try KVMSystem(path: KVMGate.path)
    }

    @Test("an unaligned guest_memfd size is EINVAL, named KVM_CREATE_GUEST_MEMFD")
    func unalignedSize() throws {
        let vm = try system.createVM()
        let error = #expect(throws: KVMError.self) {
            try vm.createGuestMemfd(size: Self.page + 1, flags: [.mmap, .initShared])
        }
        #expect(error?.operation == "KVM_CREATE_GUEST_MEMFD")
        #expect(error?.errno == EINVAL)
        #expect(error?.description.contains("KVM_CREATE_GUEST_MEMFD") == true)
        #expect(error?.hint?.contains("page aligned") == true)
    }

    @Test("an unsupported guest_memfd flag is EINVAL")
    func unsupportedFlag() throws {
        let vm = try system.createVM()
        let error = #expect(throws: KVMError.self) {
            try vm.createGuestMemfd(size: Self.page, flags: GuestMemfdFlags(rawValue: 1 << 63))
        }
        #expect(error?.operation == "KVM_CREATE_GUEST_MEMFD")
        #expect(error?.errno == EINVAL)
    }

    @Test("two mappings of one guest_memfd see the same bytes; a punched page reads zero")
    func twoViewsAndPunchHole() throws {
        let vm = try system.createVM()
        let gmem = try vm.createGuestMemfd(size: 4 * Self.page, flags: [.mmap, .initShared])
        #expect(gmem.size == 4 * Self.page)
        #expect(gmem.flags == [.mmap, .initShared])
        let kvmView = try gmem.map(length: gmem.size, protection: [.read, .write], what: "kvm view")
        let hostView = try gmem.map(length: gmem.size, protection: [.read, .write], what: "host view")
        #expect(kvmView.address() != hostView.address())

        for pageIndex in 0..<4 {
            let pattern = [UInt8](repeating: UInt8(0xA0 + pageIndex), count: Int(Self.page))
            kvmView.address(at: pageIndex * Int(Self.page)).copyMemory(from: pattern, byteCount: pattern.count)
        }
        func bytes(_ mapping: HostMapping, page: Int) -> [UInt8] {
            Array(UnsafeRawBufferPointer(start: mapping.address(at: page * Int(Self.page)), count: Int(Self.page)))
        }
        for pageIndex in 0..<4 {
            #expect(bytes(hostView, page: pageIndex) == [UInt8](repeating: UInt8(0xA0 + pageIndex), count: Int(Self.page)))
        }

        try gmem.punchHole(offset: Self.page, length: Self.page)
        let zero = [UInt8](repeating: 0, count: Int(Self.page))
        #expect(bytes(hostView, page: 1) == zero)
        #expect(bytes(kvmView, page: 1) == zero)
        for pageIndex in [0, 2, 3] {
            #expect(bytes(hostView, page: pageIndex) == [UInt8](repeating: UInt8(0xA0 + pageIndex), count: Int(Self.page)),
                    "page \(pageIndex) must survive punching page 1")
        }
        try hostView.unmap()
        try kvmView.unmap()
        try gmem.fd.close()
    }

    /// Docs/kvm-abi.md: without GUEST_MEMFD_FLAG_MMAP, mmap fails with ENODEV (x86);
    /// arm64 refuses flags 0 outright.
    @Test("a guest_memfd without MMAP cannot be mapped")
    func noMmapFlag() throws {
        let vm = try system.createVM()
        #if arch(x86_64)
        let gmem = try vm.createGuestMemfd(size: Self.page, flags: [])
        let error = #expect(throws: KVMError.self) { try gmem.map(length: Self.page, protection: [.read], what: "no-mmap view") }
        #expect(error?.operation == "mmap(no-mmap view)")
        #expect(error?.errno == ENODEV)
        #else
        let error = #expect(throws: KVMError.self) { try vm.createGuestMemfd(size: Self.page, flags: []) }
        #expect(error?.errno == EINVAL)
        #endif
    }

    @Test("a guest_memfd memslot (v2) binds and is deleted")
    func memslotBindAndDelete() throws {
        let vm = try system.createVM()
        let size: UInt64 = 64 * 1024
        let gmem = try vm.createGuestMemfd(size: size, flags: [.mmap, .initShared])
        let view = try gmem.map(length: size, protection: [.read, .write], what: "kvm view")
        let slot = MemorySlot(slot: 0, flags: .guestMemfd, guestPhysicalAddress: 0x10_0000, size: size,
                              userspaceAddress: UInt64(UInt(bitPattern: view.address())),
                              guestMemfd: gmem.fd.rawValue, guestMemfdOffset: 0)
        try vm.setMemoryRegion(slot)
        // A second slot over the same GPA range overlaps: EEXIST names the slot.
        var overlap = slot
        overlap.slot = 1
        let error = #expect(throws: KVMError.self) { try vm.setMemoryRegion(overlap) }
        #expect(error?.operation == "KVM_SET_USER_MEMORY_REGION2(slot 1)")
        #expect(error?.errno == EEXIST)
        try vm.setMemoryRegion(slot.deletion)
        // Deleted: the range is free again.
        try vm.setMemoryRegion(overlap)
        try vm.setMemoryRegion(overlap.deletion)
        try view.unmap()
        try gmem.fd.close()
    }
}
