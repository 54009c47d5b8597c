import Glibc
import KVM
import Testing

@Suite("exit decoding from synthetic kvm_run bytes")
struct ExitDecodingTests {
    // MARK: port I/O

    @Test("OUT of one console byte")
    func consoleByte() throws {
        let run = SyntheticRun.portIO(out: true, size: 1, port: 0xE9, count: 1, dataOffset: 4096, data: [0x41])
        #expect(try run.decode() == .io(PortIO(direction: .out, size: 1, port: 0xE9, count: 1, dataOffset: 4096, data: [0x41])))
    }

    @Test("OUT of a 4-byte doorbell value is little-endian")
    func doorbell() throws {
        let run = SyntheticRun.portIO(out: true, size: 4, port: 0x510, count: 1, dataOffset: 4096,
                                      data: [0x78, 0x56, 0x34, 0x12])
        guard case .io(let io) = try run.decode() else { Issue.record("not an I/O exit"); return }
        #expect(io.direction == .out)
        #expect(io.port == 0x510)
        #expect(io.size == 4)
        #expect(io.data == [0x78, 0x56, 0x34, 0x12])
        #expect(io.value == 0x1234_5678)
    }

    @Test("a string OUT (count > 1) copies size × count bytes")
    func stringOut() throws {
        let payload: [UInt8] = [1, 0, 2, 0, 3, 0]
        let run = SyntheticRun.portIO(out: true, size: 2, port: 0x3F8, count: 3, dataOffset: 4096, data: payload + [0xEE])
        guard case .io(let io) = try run.decode() else { Issue.record("not an I/O exit"); return }
        #expect(io.count == 3)
        #expect(io.data == payload)
        #expect(io.value == 1)
    }

    @Test("data may also live inside struct kvm_run")
    func dataInsideRun() throws {
        let run = SyntheticRun.portIO(out: true, size: 1, port: 0xE9, count: 1, dataOffset: 2000, data: [0x7A])
        #expect(try run.decode() == .io(PortIO(direction: .out, size: 1, port: 0xE9, count: 1, dataOffset: 2000, data: [0x7A])))
    }

    @Test("IN carries no data; the VMM answers at data_offset")
    func portIn() throws {
        let run = SyntheticRun.portIO(out: false, size: 4, port: 0x511, count: 1, dataOffset: 4096, data: [9, 9, 9, 9])
        #expect(try run.decode() == .io(PortIO(direction: .in, size: 4, port: 0x511, count: 1, dataOffset: 4096, data: [])))
    }

    @Test("a corrupted I/O payload is unsupported, not a crash", arguments: [
        (UInt8(3), UInt32(1), UInt64(4096)),   // size 3
        (0, 1, 4096),                           // size 0
        (8, 1, 4096),                           // size 8
        (1, 1, 8192),                           // data_offset == buffer size
        (4, 1, 8190),                           // data straddles the end
        (1, 1, 1 << 40),                        // far past the buffer
        (4, 2000, 4096),                        // 8000 bytes: more than a page
        (1, UInt32.max, 4096),                  // count absurd
    ])
    func corruptedIO(size: UInt8, count: UInt32, dataOffset: UInt64) throws {
        let run = SyntheticRun.portIO(out: true, size: size, port: 0xE9, count: count, dataOffset: 0)
        var bytes = run
        bytes.setUnion(dataOffset, at: 8)
        guard case .unsupported(let reason) = try bytes.decode() else {
            Issue.record("decoded a corrupted KVM_EXIT_IO payload")
            return
        }
        #expect(reason.contains("KVM_EXIT_IO"))
    }

    // MARK: MMIO, HLT, hypercall

    @Test("MMIO write copies len bytes; MMIO read carries none")
    func mmio() throws {
        let write = SyntheticRun.mmio(address: 0xFEE0_0000, length: 4, isWrite: true, data: [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(try write.decode() == .mmio(MMIOAccess(address: 0xFEE0_0000, length: 4, isWrite: true, data: [1, 2, 3, 4])))
        let read = SyntheticRun.mmio(address: 0x9000_0008, length: 8, isWrite: false, data: [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(try read.decode() == .mmio(MMIOAccess(address: 0x9000_0008, length: 8, isWrite: false, data: [])))
    }

    @Test("an MMIO length over 8 is unsupported")
    func mmioTooLong() throws {
        let run = SyntheticRun.mmio(address: 0x1000, length: 9, isWrite: true, data: [])
        guard case .unsupported(let reason) = try run.decode() else { Issue.record("decoded len 9"); return }
        #expect(reason.contains("KVM_EXIT_MMIO"))
    }

    @Test("HLT")
    func hlt() throws {
        #expect(try SyntheticRun(reason: .hlt).decode() == .hlt)
    }

    @Test("hypercall: nr@32, args[6]@40, flags@96; ret@88 is not an argument")
    func hypercall() throws {
        var run = SyntheticRun(reason: .hypercall)
        run.setUnion(UInt64(12), at: 0)
        let args: [UInt64] = [0x10_8000, 1, 0x10, 0xDEAD_BEEF, 0x1_0000_0000, UInt64.max]
        for (index, value) in args.enumerated() { run.setUnion(value, at: 8 + 8 * index) }
        run.set(UInt64(0x5555), at: 88)
        run.set(UInt64(1), at: 96)
        #expect(try run.decode() == .hypercall(HypercallExit(nr: 12, args: args, flags: 1)))
    }

    // MARK: memory faults and errors

    @Test("a memory fault arrives as KVM_RUN failing with EFAULT or EHWPOISON", arguments: [EFAULT, EHWPOISON])
    func memoryFault(_ error: Int32) throws {
        var run = SyntheticRun(reason: 39)
        run.setUnion(MemoryFaultExit.flagPrivate, at: 0)
        run.setUnion(UInt64(0x20_3000), at: 8)
        run.setUnion(UInt64(0x1000), at: 16)
        let exit = try run.decode(result: -error)
        #expect(exit == .memoryFault(MemoryFaultExit(flags: 0x8, gpa: 0x20_3000, size: 0x1000)))
        guard case .memoryFault(let fault) = exit else { return }
        #expect(fault.isPrivate)
    }

    @Test("a shared-access memory fault is not private")
    func sharedMemoryFault() throws {
        var run = SyntheticRun(reason: .memoryFault)
        run.setUnion(UInt64(0x20_3000), at: 8)
        run.setUnion(UInt64(0x1000), at: 16)
        guard case .memoryFault(let fault) = try run.decode(result: -EFAULT) else { Issue.record("not a memory fault"); return }
        #expect(!fault.isPrivate)
    }

    @Test("EFAULT without exit_reason 39 is an error naming KVM_RUN", arguments: [VCPUExit.Reason.unknown, .mmio, .hlt])
    func efaultIsAnError(_ reason: VCPUExit.Reason) {
        let run = SyntheticRun(reason: reason)
        #expect(throws: KVMError("KVM_RUN", errno: EFAULT)) { try run.decode(result: -EFAULT) }
    }

    @Test("other KVM_RUN failures keep their errno", arguments: [EINVAL, ENOEXEC, EBADF, ENOMEM])
    func otherErrors(_ error: Int32) {
        let run = SyntheticRun(reason: .memoryFault)
        #expect(throws: KVMError("KVM_RUN", errno: error)) { try run.decode(result: -error) }
    }

    @Test("EINTR and KVM_EXIT_INTR are both .interrupted")
    func interrupted() throws {
        #expect(try SyntheticRun(reason: .hlt).decode(result: -EINTR) == .interrupted)
        #expect(try SyntheticRun(reason: .intr).decode() == .interrupted)
    }

    // MARK: system events, shutdown, internal errors

    @Test("system events carry their type and data", arguments: [
        (SystemEvent.Kind.shutdown, [UInt64(0)]),
        (.reset, [0x8400_0009, 7]),
        (.crash, []),
        (SystemEvent.Kind(rawValue: 9), [1, 2, 3]),
    ])
    func systemEvent(_ kind: SystemEvent.Kind, _ data: [UInt64]) throws {
        let run = SyntheticRun.withData(reason: .systemEvent, first: kind.rawValue, ndata: UInt32(data.count), data: data + [0xFF])
        #expect(try run.decode() == .systemEvent(SystemEvent(type: kind, data: data)))
    }

    @Test("system event names")
    func systemEventNames() {
        #expect(SystemEvent.Kind.shutdown.description == "SHUTDOWN")
        #expect(SystemEvent.Kind.reset.description == "RESET")
        #expect(SystemEvent.Kind.crash.description == "CRASH")
        #expect(SystemEvent.Kind(rawValue: 9).description == "system event 9")
    }

    @Test("an ndata over 16 is clamped to the array's 16 entries")
    func ndataClamped() throws {
        let data = (1...16).map(UInt64.init)
        let run = SyntheticRun.withData(reason: .systemEvent, first: 1, ndata: 1000, data: data)
        #expect(try run.decode() == .systemEvent(SystemEvent(type: .shutdown, data: data)))
    }

    @Test("KVM_EXIT_SHUTDOWN")
    func shutdown() throws {
        #expect(try SyntheticRun(reason: .shutdown).decode() == .shutdown)
    }

    @Test("internal error with suberror and ndata")
    func internalError() throws {
        let run = SyntheticRun.withData(reason: .internalError, first: 1, ndata: 3, data: [0xA, 0xB, 0xC, 0xD])
        #expect(try run.decode() == .internalError(suberror: 1, data: [0xA, 0xB, 0xC]))
    }

    @Test("fail entry: hardware_entry_failure_reason@32, cpu@40")
    func failEntry() throws {
        var run = SyntheticRun(reason: .failEntry)
        run.setUnion(UInt64(0x8000_0021), at: 0)
        run.setUnion(UInt32(3), at: 8)
        #expect(try run.decode() == .failEntry(reason: 0x8000_0021, cpu: 3))
    }

    // MARK: reasons pvmh does not handle

    @Test("an unknown exit reason is unsupported and names the number")
    func unknownReason() throws {
        guard case .unsupported(let reason) = try SyntheticRun(reason: 999).decode() else {
            Issue.record("decoded exit reason 999"); return
        }
        #expect(reason.contains("999"))
    }

    @Test("known but unhandled reasons are unhandled and named", arguments: [
        VCPUExit.Reason.debug, .exception, .irqWindowOpen, .x86RDMSR, .notify, .armNISV,
    ])
    func unhandledReason(_ reason: VCPUExit.Reason) throws {
        guard case .unhandled(let decoded) = try SyntheticRun(reason: reason).decode() else {
            Issue.record("\(reason.name) was handled"); return
        }
        #expect(decoded == reason)
        #expect(decoded.unhandledDescription.contains(reason.name))
        #expect(decoded.unhandledDescription.contains("(\(reason.rawValue))"))
    }

    @Test("KVM_EXIT_DEBUG is reported by name")
    func debugByName() throws {
        #expect(try SyntheticRun(reason: 4).decode() == .unhandled(.debug))
        #expect(VCPUExit.Reason.debug.unhandledDescription == "KVM_EXIT_DEBUG (4) is not handled by pvmh")
    }
}
