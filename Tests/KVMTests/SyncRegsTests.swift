#if arch(x86_64)
import CKVM
import Glibc
@testable import KVM
import PVMHTestSupport
import Testing

/// kvm_run's synced register area (KVM_CAP_SYNC_REGS) as pvmh reads and
/// writes it: the offsets against the C compiler's and Docs/kvm-abi.md's,
/// then the API over a synthetic kvm_run, then the kernel's rules on real KVM.
private let syncLayout: [LayoutFact] = [
    LayoutFact("VCPUExit.Layout.validRegs", VCPUExit.Layout.validRegs, CKVM_RUN_VALID_REGS_OFFSET),
    LayoutFact("VCPUExit.Layout.dirtyRegs", VCPUExit.Layout.dirtyRegs, CKVM_RUN_DIRTY_REGS_OFFSET),
    LayoutFact("VCPUExit.Layout.syncRegs", VCPUExit.Layout.syncRegs, CKVM_RUN_SYNC_REGS_OFFSET),
    LayoutFact("kvm_run.kvm_valid_regs", MemoryLayout<kvm_run>.offset(of: \.kvm_valid_regs), CKVM_RUN_VALID_REGS_OFFSET),
    LayoutFact("kvm_run.kvm_dirty_regs", MemoryLayout<kvm_run>.offset(of: \.kvm_dirty_regs), CKVM_RUN_DIRTY_REGS_OFFSET),
    LayoutFact("kvm_run.s", MemoryLayout<kvm_run>.offset(of: \.s), CKVM_RUN_SYNC_REGS_OFFSET),
    LayoutFact("X86SyncRegisterSets.Layout.general", X86SyncRegisterSets.Layout.general, CKVM_SYNC_REGS_REGS_OFFSET),
    LayoutFact("X86SyncRegisterSets.Layout.special", X86SyncRegisterSets.Layout.special, CKVM_SYNC_REGS_SREGS_OFFSET),
    LayoutFact("X86SyncRegisterSets.Layout.events", X86SyncRegisterSets.Layout.events, CKVM_SYNC_REGS_EVENTS_OFFSET),
    LayoutFact("X86SyncRegisterSets.Layout.size", X86SyncRegisterSets.Layout.size, CKVM_SYNC_REGS_SIZE),
    LayoutFact("X86SyncRegisterSets.Layout.eferInSpecial", X86SyncRegisterSets.Layout.eferInSpecial, CKVM_SREGS_EFER_OFFSET),
    LayoutFact("sizeof(kvm_regs)", MemoryLayout<kvm_regs>.size, CKVM_REGS_SIZE),
    LayoutFact("sizeof(kvm_sregs)", MemoryLayout<kvm_sregs>.size, CKVM_SREGS_SIZE),
    LayoutFact("kvm_sregs.efer", MemoryLayout<kvm_sregs>.offset(of: \.efer), CKVM_SREGS_EFER_OFFSET),
]

/// The numbers Docs/kvm-abi.md documents ("Synced registers").
private let syncDocumented: [LayoutFact] = [
    LayoutFact("kvm_valid_regs", CKVM_RUN_VALID_REGS_OFFSET, 288),
    LayoutFact("kvm_dirty_regs", CKVM_RUN_DIRTY_REGS_OFFSET, 296),
    LayoutFact("kvm_run.s", CKVM_RUN_SYNC_REGS_OFFSET, 304),
    LayoutFact("kvm_sync_regs.regs", CKVM_SYNC_REGS_REGS_OFFSET, 0),
    LayoutFact("kvm_sync_regs.sregs", CKVM_SYNC_REGS_SREGS_OFFSET, 144),
    LayoutFact("kvm_sync_regs.events", CKVM_SYNC_REGS_EVENTS_OFFSET, 456),
    LayoutFact("sizeof(kvm_sync_regs)", CKVM_SYNC_REGS_SIZE, 520),
    LayoutFact("kvm_sregs.efer", CKVM_SREGS_EFER_OFFSET, 264),
    LayoutFact("s ends kvm_run (2048 bytes)", CKVM_RUN_SYNC_REGS_OFFSET + 2048, CKVM_RUN_SIZE),
]

@Suite("synced registers: layout and the API over a synthetic kvm_run")
struct SyncRegsTests {
    @Test("sync-regs offsets equal the CKVM exports", arguments: syncLayout)
    func layout(_ fact: LayoutFact) throws {
        let actual = try #require(fact.actual, "\(fact.name) has no stored-field offset")
        #expect(actual == fact.documented, "\(fact.name)")
    }

    @Test("sync-regs offsets are the documented ones", arguments: syncDocumented)
    func documented(_ fact: LayoutFact) {
        #expect(fact.actual == fact.documented, "\(fact.name)")
    }

    @Test("KVM_SYNC_X86_* bits and KVM_CAP_SYNC_REGS match the header")
    func bits() {
        #expect(X86SyncRegisterSets.general.rawValue == CKVM_SYNC_X86_REGS)
        #expect(X86SyncRegisterSets.special.rawValue == CKVM_SYNC_X86_SREGS)
        #expect(X86SyncRegisterSets.events.rawValue == CKVM_SYNC_X86_EVENTS)
        #expect(Capability.syncRegs.rawValue == CKVM_CAP_SYNC_REGS)
        #expect(Capability.syncRegs.name == "KVM_CAP_SYNC_REGS")
        #expect(Capability.reported.contains(.syncRegs))
        #expect(X86SyncRegisterSets(rawValue: 0x7).description == "REGS|SREGS|EVENTS")
        #expect(X86SyncRegisterSets([]).description == "none")
        #expect(X86SyncRegisterSets(rawValue: 0x9).description == "REGS|0x8")
    }

    @Test("enabling sets kvm_valid_regs; synced registers and EFER are read from kvm_run.s")
    func readSynced() throws {
        let vcpu = try WrapperErrorTests.vcpu(over: .devNull)
        var run = SyntheticRun(reason: .io, count: vcpu.run.length)
        run.setSynced(rax: 12, rbx: 0x10_8000, rcx: 1, rdx: 0x10, rip: 0x10_0123, efer: 0x500)
        run.install(into: vcpu)

        vcpu.enableSyncRegisters([.general, .special])
        #expect(SyntheticRun.bytes(of: vcpu, at: 288, count: 8) == [3, 0, 0, 0, 0, 0, 0, 0])
        #expect(vcpu.syncedRegisterSets == [.general, .special])

        let regs = try vcpu.registers(via: .syncRegs)
        #expect([regs.rax, regs.rbx, regs.rcx, regs.rdx, regs.rip, regs.rflags] == [12, 0x10_8000, 1, 0x10, 0x10_0123, 2])
        #expect(try vcpu.extendedFeatureEnable(via: .syncRegs) == 0x500)
        #expect(try vcpu.syncedSpecialRegisters().efer == 0x500)
        #expect(vcpu.dirtyRegisterSets == [], "reading marks nothing dirty")
    }

    @Test("writing synced registers stores kvm_run.s.regs.regs and sets KVM_SYNC_X86_REGS in kvm_dirty_regs")
    func writeSynced() throws {
        let vcpu = try WrapperErrorTests.vcpu(over: .devNull)
        var run = SyntheticRun(reason: .io, count: vcpu.run.length)
        run.setSynced(rax: 12, rbx: 0x10_8000, rcx: 1, rdx: 0x10, rip: 0x10_0123, efer: 0x500)
        run.set(UInt64(0x4), at: 296)   // an EVENTS bit someone else set stays
        run.install(into: vcpu)
        vcpu.enableSyncRegisters([.general, .special])

        var reply = try vcpu.registers(via: .syncRegs)
        reply.rax = UInt64(bitPattern: -22)
        try vcpu.setRegisters(reply, via: .syncRegs)
        #expect(SyntheticRun.bytes(of: vcpu, at: 304, count: 8) == [0xEA, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(SyntheticRun.bytes(of: vcpu, at: 304 + 8, count: 8) == [0x00, 0x80, 0x10, 0, 0, 0, 0, 0], "RBX kept")
        #expect(SyntheticRun.bytes(of: vcpu, at: 296, count: 8) == [5, 0, 0, 0, 0, 0, 0, 0])
        #expect(vcpu.dirtyRegisterSets == [.general, .events])
        #expect(SyntheticRun.bytes(of: vcpu, at: 304 + 144 + 264, count: 2) == [0x00, 0x05], "EFER untouched")
    }

    @Test("without the set enabled, synced access throws naming the set; the ioctl path names its ioctl")
    func errors() throws {
        let vcpu = try WrapperErrorTests.vcpu(over: .devNull)
        let general = #expect(throws: KVMError.self) { _ = try vcpu.registers(via: .syncRegs) }
        #expect(general?.operation.contains("KVM_SYNC_X86_REGS") == true)
        #expect(general?.errno == EINVAL)
        vcpu.enableSyncRegisters(.general)
        let special = #expect(throws: KVMError.self) { _ = try vcpu.extendedFeatureEnable(via: .syncRegs) }
        #expect(special?.operation.contains("KVM_SYNC_X86_SREGS") == true)
        #expect(special?.hint?.contains("kvm_valid_regs") == true)

        // The fallback is the ioctls, and their errors keep their names.
        let get = #expect(throws: KVMError.self) { _ = try vcpu.registers(via: .ioctls) }
        #expect(get?.operation == "KVM_GET_REGS")
        #expect(get?.errno == ENOTTY)
        let efer = #expect(throws: KVMError.self) { _ = try vcpu.extendedFeatureEnable(via: .ioctls) }
        #expect(efer?.operation == "KVM_GET_SREGS")
        let set = #expect(throws: KVMError.self) { try vcpu.setRegisters(kvm_regs(), via: .ioctls) }
        #expect(set?.operation == "KVM_SET_REGS")
        #expect(vcpu.dirtyRegisterSets == [], "the ioctl path never touches kvm_dirty_regs")
    }
}

/// The kernel's side of the rules (arch/x86/kvm/x86.c `store_regs` and
/// `sync_regs`), on a five-instruction guest in 32-bit protected mode:
///
///     mov eax, 0x11111111; mov ebx, 0x22222222; out 0xE0, al   ; exit 1
///     mov ebx, eax; out 0xE0, al                                ; exit 2
///     hlt
///
/// At exit 1 the synced registers equal what KVM_GET_REGS/KVM_GET_SREGS say;
/// the VMM writes EAX = 0x33333333 through kvm_run; at exit 2 EBX holds it
/// (the write reached the guest and the OUT was completed, not repeated) and
/// KVM has cleared the dirty bit.
@Suite("real /dev/kvm: synced registers", .enabled(if: KVMGate.enabled, "needs read/write /dev/kvm"),
       .enabled(if: KVMGate.syncRegs, Comment(rawValue: KVMGate.syncRegsReason)), .serialized)
struct SyncRegsHardwareTests {
    static let code: [UInt8] = [
        0xB8, 0x11, 0x11, 0x11, 0x11,   // mov eax, 0x11111111
        0xBB, 0x22, 0x22, 0x22, 0x22,   // mov ebx, 0x22222222
        0xE6, 0xE0,                     // out 0xE0, al
        0x89, 0xC3,                     // mov ebx, eax
        0xE6, 0xE0,                     // out 0xE0, al
        0xF4,                           // hlt
    ]
    static let entry: UInt64 = 0x1000

    @Test("KVM copies the registers out on every exit and takes dirty ones back on the next KVM_RUN")
    func kernelRules() throws {
        let system = try KVMSystem(path: KVMGate.path)
        let vm = try system.createVM()
        let size: UInt64 = 64 * 1024
        let file = try SharedMemoryFile(size: size)
        let view = try file.map(length: size, protection: [.read, .write], what: "kvm view")
        view.address(at: Int(Self.entry)).copyMemory(from: Self.code, byteCount: Self.code.count)
        let slot = MemorySlot(slot: 0, flags: [], guestPhysicalAddress: 0, size: size,
                              userspaceAddress: UInt64(UInt(bitPattern: view.address())))
        try vm.setMemoryRegionV1(slot)
        let vcpu = try vm.createVCPU(id: 0)
        try vcpu.setFlatProtectedMode(entry: Self.entry, arguments: [])
        vcpu.enableSyncRegisters([.general, .special])

        guard case .io(let first) = try vcpu.runOnce() else { Issue.record("exit 1 is not port I/O"); return }
        #expect(first.port == 0xE0)
        let synced = try vcpu.registers(via: .syncRegs)
        let ioctl = try vcpu.registers(via: .ioctls)
        #expect(synced.rax & 0xFFFF_FFFF == 0x1111_1111)
        #expect(synced.rbx & 0xFFFF_FFFF == 0x2222_2222)
        #expect([synced.rax, synced.rbx, synced.rip, synced.rflags] == [ioctl.rax, ioctl.rbx, ioctl.rip, ioctl.rflags])
        #expect(try vcpu.extendedFeatureEnable(via: .syncRegs) == (try vcpu.extendedFeatureEnable(via: .ioctls)))
        #expect(try vcpu.syncedSpecialRegisters().cr0 & 1 == 1, "protected mode, as set up")

        var reply = synced
        reply.rax = 0x3333_3333
        try vcpu.setRegisters(reply, via: .syncRegs)
        #expect(vcpu.dirtyRegisterSets == [.general])

        guard case .io(let second) = try vcpu.runOnce() else { Issue.record("exit 2 is not port I/O"); return }
        #expect(second.port == 0xE0)
        #expect(vcpu.dirtyRegisterSets == [], "KVM clears kvm_dirty_regs once it took the registers")
        let after = try vcpu.registers(via: .syncRegs)
        #expect(after.rbx & 0xFFFF_FFFF == 0x3333_3333, "the guest saw the synced write")
        #expect(after.rip > synced.rip)
        #expect(after.rbx == (try vcpu.registers(via: .ioctls)).rbx)

        #expect(try vcpu.runOnce() == .hlt)
        try vm.setMemoryRegionV1(slot.deletion)
        try view.unmap()
        try file.fd.close()
    }
}
#endif
