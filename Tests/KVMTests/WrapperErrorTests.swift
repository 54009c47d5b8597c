import CKVM
import Glibc
@testable import KVM
import Testing

/// An fd a wrapper can be built over without KVM: /dev/null answers every
/// KVM ioctl with ENOTTY; a closed one (rawValue -1) fails with EBADF.
enum BrokenFD: String, CaseIterable, Sendable {
    case devNull = "/dev/null"
    case closed

    var ioctlErrno: Int32 { self == .devNull ? ENOTTY : EBADF }

    func make(kind: String) throws -> OwnedFileDescriptor {
        let raw = ckvm_open("/dev/null", O_RDWR)
        try #require(raw >= 0, "open(/dev/null): \(Errno.name(-raw))")
        let fd = OwnedFileDescriptor(raw, kind: kind)
        if self == .closed { try fd.close() }
        return fd
    }
}

/// The vCPU ioctls, each with the name its error must carry.
enum VCPUOperation: String, CaseIterable, Sendable {
    case run = "KVM_RUN"
    #if arch(x86_64)
    case getRegisters = "KVM_GET_REGS"
    case setRegisters = "KVM_SET_REGS"
    case getSpecialRegisters = "KVM_GET_SREGS"
    case setSpecialRegisters = "KVM_SET_SREGS"
    #endif

    func perform(on vcpu: VCPU) throws(KVMError) {
        switch self {
        case .run: _ = try vcpu.runOnce()
        #if arch(x86_64)
        case .getRegisters: _ = try vcpu.registers()
        case .setRegisters: try vcpu.setRegisters(kvm_regs())
        case .getSpecialRegisters: _ = try vcpu.specialRegisters()
        case .setSpecialRegisters: try vcpu.setSpecialRegisters(kvm_sregs())
        #endif
        }
    }
}

@Suite("wrappers over an fd that is not KVM")
struct WrapperErrorTests {
    /// A vCPU over `fd` with an anonymous stand-in for its kvm_run pages.
    static func vcpu(over fd: BrokenFD) throws -> VCPU {
        let run = try HostMapping(anonymousLength: 3 * 4096, protection: [.read, .write], what: "fake kvm_run")
        return VCPU(id: 0, fd: try fd.make(kind: "kvm-vcpu:0"), run: run)
    }

    @Test("vCPU ioctls throw their name and errno", arguments: VCPUOperation.allCases, BrokenFD.allCases)
    func vcpuOperation(_ operation: VCPUOperation, _ fd: BrokenFD) throws {
        let vcpu = try Self.vcpu(over: fd)
        let error = #expect(throws: KVMError.self) { try operation.perform(on: vcpu) }
        #expect(error?.operation == operation.rawValue)
        #expect(error?.errno == fd.ioctlErrno)
        #expect(error?.description.contains(operation.rawValue) == true)
        #expect(error?.description.contains(Errno.name(fd.ioctlErrno)) == true)
    }

    @Test("immediate_exit, hypercall ret and IN/MMIO answers land at the documented kvm_run offsets")
    func runPageWrites() throws {
        let vcpu = try Self.vcpu(over: .devNull)
        let page = vcpu.run.address()
        vcpu.requestImmediateExit()
        #expect(page.load(fromByteOffset: 1, as: UInt8.self) == 1)
        vcpu.requestImmediateExit(false)
        #expect(page.load(fromByteOffset: 1, as: UInt8.self) == 0)

        vcpu.setHypercallReturn(0xFFFF_FFFF_FFFF_FFEA)
        #expect(page.load(fromByteOffset: 88, as: UInt64.self) == 0xFFFF_FFFF_FFFF_FFEA)

        let io = PortIO(direction: .in, size: 2, port: 0x511, count: 3, dataOffset: 4096, data: [])
        vcpu.completePortIn(io, value: 0xBEEF_1234)
        #expect(Array(UnsafeRawBufferPointer(start: page + 4096, count: 7)) == [0x34, 0x12, 0x34, 0x12, 0x34, 0x12, 0])

        let access = MMIOAccess(address: 0x9000_0000, length: 4, isWrite: false, data: [])
        vcpu.completeMMIORead(access, value: 0x1122_3344_5566_7788)
        #expect(Array(UnsafeRawBufferPointer(start: page + 40, count: 8)) == [0x88, 0x77, 0x66, 0x55, 0, 0, 0, 0])
    }

    @Test("punching a hole in a file that is not guest_memfd names fallocate and the errno", arguments: [
        (BrokenFD.devNull, ENODEV), (.closed, EBADF),
    ])
    func punchHole(_ fd: BrokenFD, _ expected: Int32) throws {
        let gmem = GuestMemfd(fd: try fd.make(kind: "kvm-gmem"), size: 8192, flags: [.mmap])
        let error = #expect(throws: KVMError.self) { try gmem.punchHole(offset: 0, length: 4096) }
        #expect(error?.operation == "fallocate(PUNCH_HOLE) on guest_memfd")
        #expect(error?.errno == expected)
    }

    @Test("mapping /dev/null as guest memory fails with mmap ENODEV")
    func mapNotGuestMemfd() throws {
        let gmem = GuestMemfd(fd: try BrokenFD.devNull.make(kind: "kvm-gmem"), size: 8192, flags: [.mmap])
        let error = #expect(throws: KVMError.self) { try gmem.map(length: 8192, protection: [.read], what: "host view") }
        #expect(error?.operation == "mmap(host view)")
        #expect(error?.errno == ENODEV)
    }

    /// Regression: HostMapping used to treat fd < 0 as "anonymous", and a closed
    /// OwnedFileDescriptor reports -1, so mapping a released guest_memfd quietly
    /// returned fresh anonymous memory instead of failing.
    @Test("mapping a closed guest_memfd fails with EBADF")
    func mapClosedGuestMemfd() throws {
        let gmem = GuestMemfd(fd: try BrokenFD.closed.make(kind: "kvm-gmem"), size: 8192, flags: [.mmap])
        let error = #expect(throws: KVMError.self) {
            let mapping = try gmem.map(length: 8192, protection: [.read], what: "host view")
            try mapping.unmap()
        }
        #expect(error?.operation == "mmap(host view)")
        #expect(error?.errno == EBADF)
    }
}
