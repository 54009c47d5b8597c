import Glibc
import KVM

/// The bytes of a `kvm_run` mapping, filled at the offsets Docs/kvm-abi.md
/// documents, so exit decoding is tested without a vCPU. Real mappings are
/// several pages (port I/O data sits after struct kvm_run), hence 8 KiB.
struct SyntheticRun {
    static let unionOffset = 32
    var bytes: [UInt8]

    init(reason: UInt32, count: Int = 8192) {
        bytes = [UInt8](repeating: 0, count: count)
        set(reason, at: 8)
    }

    init(reason: VCPUExit.Reason, count: Int = 8192) {
        self.init(reason: reason.rawValue, count: count)
    }

    /// Stores `value` little-endian at byte `offset`.
    mutating func set<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { raw in
            for (index, byte) in raw.enumerated() { bytes[offset + index] = byte }
        }
    }

    /// Stores `value` at `offset` inside the exit union (kvm_run + 32).
    mutating func setUnion<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        set(value, at: SyntheticRun.unionOffset + offset)
    }

    /// `VCPUExit.decode` on these bytes, as if KVM_RUN had returned `result` (0 or -errno).
    func decode(result: Int32 = 0) throws(KVMError) -> VCPUExit {
        let outcome = bytes.withUnsafeBytes { raw in Result { () throws(KVMError) in try VCPUExit.decode(run: raw, result: result) } }
        return try outcome.get()
    }

    /// A KVM_EXIT_IO: kvm_run.io is `u8 direction@32; u8 size@33; u16 port@34;
    /// u32 count@36; u64 data_offset@40`, data at data_offset from the start of kvm_run.
    static func portIO(out: Bool, size: UInt8, port: UInt16, count: UInt32, dataOffset: UInt64, data: [UInt8] = []) -> SyntheticRun {
        var run = SyntheticRun(reason: .io)
        run.setUnion(UInt8(out ? 1 : 0), at: 0)
        run.setUnion(size, at: 1)
        run.setUnion(port, at: 2)
        run.setUnion(count, at: 4)
        run.setUnion(dataOffset, at: 8)
        for (index, byte) in data.enumerated() { run.bytes[Int(dataOffset) + index] = byte }
        return run
    }

    /// A KVM_EXIT_MMIO: `u64 phys_addr@32; u8 data[8]@40; u32 len@48; u8 is_write@52`.
    static func mmio(address: UInt64, length: UInt32, isWrite: Bool, data: [UInt8]) -> SyntheticRun {
        var run = SyntheticRun(reason: .mmio)
        run.setUnion(address, at: 0)
        for (index, byte) in data.enumerated() { run.bytes[40 + index] = byte }
        run.setUnion(length, at: 16)
        run.setUnion(UInt8(isWrite ? 1 : 0), at: 20)
        return run
    }

    /// Copies these bytes into `vcpu`'s kvm_run mapping, as KVM_RUN leaves them.
    func install(into vcpu: VCPU) {
        bytes.withUnsafeBytes { raw in
            vcpu.run.address().copyMemory(from: raw.baseAddress!, byteCount: min(raw.count, vcpu.run.length))
        }
    }

    /// The bytes of `vcpu`'s kvm_run mapping at `offset`.
    static func bytes(of vcpu: VCPU, at offset: Int, count: Int) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: vcpu.run.address(at: offset), count: count))
    }

    /// What KVM stores at an exit with `kvm_valid_regs` set (Docs/kvm-abi.md,
    /// "Synced registers"): kvm_run.s at 304 holds struct kvm_sync_regs —
    /// kvm_regs (144 bytes: rax@0 rbx@8 rcx@16 rdx@24 … rip@128 rflags@136),
    /// then kvm_sregs at 144 (efer at 264 in it), then kvm_vcpu_events at 456.
    static let syncRegs = 304
    mutating func setSynced(rax: UInt64, rbx: UInt64, rcx: UInt64, rdx: UInt64, rip: UInt64, efer: UInt64) {
        for (index, value) in [rax, rbx, rcx, rdx].enumerated() { set(value, at: SyntheticRun.syncRegs + 8 * index) }
        set(rip, at: SyntheticRun.syncRegs + 128)
        set(UInt64(0x2), at: SyntheticRun.syncRegs + 136)
        set(efer, at: SyntheticRun.syncRegs + 144 + 264)
    }

    /// A payload of `u32 type-or-suberror@32; u32 ndata@36; u64 data[16]@40`
    /// (system events and internal errors share this shape).
    static func withData(reason: VCPUExit.Reason, first: UInt32, ndata: UInt32, data: [UInt64]) -> SyntheticRun {
        var run = SyntheticRun(reason: reason)
        run.setUnion(first, at: 0)
        run.setUnion(ndata, at: 4)
        for (index, value) in data.enumerated() { run.setUnion(value, at: 8 + 8 * index) }
        return run
    }
}
