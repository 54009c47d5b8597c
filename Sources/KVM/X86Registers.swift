#if arch(x86_64)
import CKVM
import Glibc

/// The general-purpose registers of an x86 vCPU (`struct kvm_regs`), by
/// this name so the layers above never import the C shim.
public typealias X86GeneralRegisters = kvm_regs

/// x86 register access. The corresponding ioctls are `KVM_GET_REGS`,
/// `KVM_SET_REGS`, `KVM_GET_SREGS` and `KVM_SET_SREGS`.
extension VCPU {
    public func registers() throws(KVMError) -> X86GeneralRegisters {
        var regs = kvm_regs()
        _ = try Syscall.ioctl(fd.rawValue, CKVM_GET_REGS, &regs, "KVM_GET_REGS")
        return regs
    }

    public func setRegisters(_ regs: X86GeneralRegisters) throws(KVMError) {
        var copy = regs
        _ = try Syscall.ioctl(fd.rawValue, CKVM_SET_REGS, &copy, "KVM_SET_REGS")
    }

    public func specialRegisters() throws(KVMError) -> kvm_sregs {
        var sregs = kvm_sregs()
        _ = try Syscall.ioctl(fd.rawValue, CKVM_GET_SREGS, &sregs, "KVM_GET_SREGS")
        return sregs
    }

    public func setSpecialRegisters(_ sregs: kvm_sregs) throws(KVMError) {
        var copy = sregs
        _ = try Syscall.ioctl(fd.rawValue, CKVM_SET_SREGS, &copy, "KVM_SET_SREGS")
    }

    /// EFER from `KVM_GET_SREGS`.
    public func extendedFeatureEnable() throws(KVMError) -> UInt64 {
        try specialRegisters().efer
    }

    /// Boot state for a bare-metal guest entered in 32-bit protected mode with
    /// flat 4 GiB segments and paging off (Linux's 32-bit boot protocol): the
    /// guest builds its own page tables and enters long mode itself.
    public func setFlatProtectedMode(entry: UInt64, arguments: [UInt64]) throws(KVMError) {
        var sregs = try specialRegisters()
        var code = kvm_segment()
        code.base = 0
        code.limit = 0xFFFF_FFFF
        code.selector = 0x08
        code.type = 0x0B   // execute/read, accessed
        code.present = 1
        code.dpl = 0
        code.db = 1
        code.s = 1
        code.l = 0
        code.g = 1
        var data = code
        data.selector = 0x10
        data.type = 0x03   // read/write, accessed
        sregs.cs = code
        sregs.ds = data
        sregs.es = data
        sregs.fs = data
        sregs.gs = data
        sregs.ss = data
        sregs.cr0 = (sregs.cr0 | 0x1) & ~UInt64(0x8000_0000)  // PE on, PG off
        sregs.cr4 = 0
        sregs.efer = 0
        try setSpecialRegisters(sregs)

        var regs = kvm_regs()
        regs.rip = entry
        regs.rflags = 0x2
        let values = arguments + Array(repeating: 0, count: max(0, 3 - arguments.count))
        regs.rdi = values[0]
        regs.rsi = values[1]
        regs.rdx = values[2]
        try setRegisters(regs)
    }
}

// MARK: Synced registers (KVM_CAP_SYNC_REGS)

/// `KVM_SYNC_X86_*`: register sets KVM copies into `kvm_run.s.regs` at the
/// end of every `KVM_RUN` (those in `kvm_valid_regs`) and takes back at the
/// start of the next one (those in `kvm_dirty_regs`). `KVM_CAP_SYNC_REGS`
/// answers the sets the kernel offers (Docs/kvm-abi.md).
public struct X86SyncRegisterSets: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// `KVM_SYNC_X86_REGS`: `struct kvm_regs`.
    public static let general = X86SyncRegisterSets(rawValue: 1)
    /// `KVM_SYNC_X86_SREGS`: `struct kvm_sregs` (EFER among them).
    public static let special = X86SyncRegisterSets(rawValue: 2)
    /// `KVM_SYNC_X86_EVENTS`: `struct kvm_vcpu_events`.
    public static let events = X86SyncRegisterSets(rawValue: 4)

    public var description: String {
        var parts: [String] = []
        if contains(.general) { parts.append("REGS") }
        if contains(.special) { parts.append("SREGS") }
        if contains(.events) { parts.append("EVENTS") }
        let rest = rawValue & ~0x7
        if rest != 0 { parts.append("0x\(String(rest, radix: 16))") }
        return parts.isEmpty ? "none" : parts.joined(separator: "|")
    }

    /// Offsets inside x86 `struct kvm_sync_regs` (at `kvm_run` + 304).
    public enum Layout {
        public static let general = 0
        public static let special = 144
        public static let events = 456
        public static let size = 520
        /// `kvm_sregs.efer`.
        public static let eferInSpecial = 264
    }
}

/// How an exit handler reaches a vCPU's registers: through `kvm_run`'s synced
/// area (no system call; KVM stores them on every exit and takes back the
/// ones marked dirty on the next `KVM_RUN`), or with `KVM_GET_REGS` /
/// `KVM_SET_REGS` / `KVM_GET_SREGS` (one ioctl each).
public enum X86RegisterAccess: String, Sendable, CaseIterable, CustomStringConvertible {
    case syncRegs = "sync-regs"
    case ioctls
    public var description: String { rawValue }
}

/// The synced-register API. Reads see the registers as of the last return of
/// `KVM_RUN`, so they are only meaningful in an exit handler (before the first
/// run the area is zero); a write is taken by the next `KVM_RUN`, before it
/// completes the exit (an `OUT` is skipped after the registers are set, as
/// with `KVM_SET_REGS`). One thread drives a vCPU, so no locking.
extension VCPU {
    private func syncArea(_ offset: Int) -> UnsafeMutableRawPointer {
        run.address(at: VCPUExit.Layout.syncRegs + offset)
    }

    /// `kvm_valid_regs`: the sets KVM copies out on every exit.
    public var syncedRegisterSets: X86SyncRegisterSets {
        X86SyncRegisterSets(rawValue: run.address(at: VCPUExit.Layout.validRegs).load(as: UInt64.self))
    }

    /// `kvm_dirty_regs`: the sets the next `KVM_RUN` takes back (KVM clears them).
    public var dirtyRegisterSets: X86SyncRegisterSets {
        X86SyncRegisterSets(rawValue: run.address(at: VCPUExit.Layout.dirtyRegs).load(as: UInt64.self))
    }

    /// Sets `kvm_valid_regs` to `sets`: from the next exit on KVM copies them
    /// into `kvm_run`. Only sets `KVM_CAP_SYNC_REGS` offers may be asked for:
    /// others make every `KVM_RUN` fail with `EINVAL`.
    public func enableSyncRegisters(_ sets: X86SyncRegisterSets) {
        run.address(at: VCPUExit.Layout.validRegs).storeBytes(of: sets.rawValue, as: UInt64.self)
    }

    private func requireSynced(_ set: X86SyncRegisterSets, _ what: String) throws(KVMError) {
        guard syncedRegisterSets.contains(set) else {
            throw KVMError("\(what) from kvm_run (KVM_CAP_SYNC_REGS)", errno: EINVAL,
                           hint: "\(set) is not in kvm_valid_regs (\(syncedRegisterSets)); call enableSyncRegisters first")
        }
    }

    /// The general registers KVM stored at the last exit (`kvm_run.s.regs.regs`).
    public func syncedRegisters() throws(KVMError) -> X86GeneralRegisters {
        try requireSynced(.general, "KVM_SYNC_X86_REGS")
        return syncArea(X86SyncRegisterSets.Layout.general).load(as: X86GeneralRegisters.self)
    }

    /// The special registers KVM stored at the last exit (`kvm_run.s.regs.sregs`).
    public func syncedSpecialRegisters() throws(KVMError) -> kvm_sregs {
        try requireSynced(.special, "KVM_SYNC_X86_SREGS")
        return syncArea(X86SyncRegisterSets.Layout.special).load(as: kvm_sregs.self)
    }

    /// EFER as KVM stored it at the last exit, without copying all of `kvm_sregs`.
    public func syncedExtendedFeatureEnable() throws(KVMError) -> UInt64 {
        try requireSynced(.special, "KVM_SYNC_X86_SREGS")
        return syncArea(X86SyncRegisterSets.Layout.special + X86SyncRegisterSets.Layout.eferInSpecial).load(as: UInt64.self)
    }

    /// Writes `regs` into `kvm_run.s.regs.regs` and marks `KVM_SYNC_X86_REGS`
    /// dirty, so the next `KVM_RUN` loads them (as `KVM_SET_REGS` would) and
    /// clears the bit. Needs the general registers synced: otherwise the rest
    /// of the area would not be the vCPU's state.
    public func setSyncedRegisters(_ regs: X86GeneralRegisters) throws(KVMError) {
        try requireSynced(.general, "KVM_SYNC_X86_REGS")
        syncArea(X86SyncRegisterSets.Layout.general).storeBytes(of: regs, as: X86GeneralRegisters.self)
        let dirty = run.address(at: VCPUExit.Layout.dirtyRegs)
        dirty.storeBytes(of: dirty.load(as: UInt64.self) | X86SyncRegisterSets.general.rawValue, as: UInt64.self)
    }

    // The exit paths' entry points: one register access or the other. Errors
    // name the ioctl (`KVM_GET_REGS`, …) or the synced set that was missing.

    /// The general registers at this exit.
    public func registers(via access: X86RegisterAccess) throws(KVMError) -> X86GeneralRegisters {
        switch access {
        case .syncRegs: try syncedRegisters()
        case .ioctls: try registers()
        }
    }

    /// EFER at this exit (bit 10, LMA: the guest runs in long mode).
    public func extendedFeatureEnable(via access: X86RegisterAccess) throws(KVMError) -> UInt64 {
        switch access {
        case .syncRegs: try syncedExtendedFeatureEnable()
        case .ioctls: try extendedFeatureEnable()
        }
    }

    /// Gives the guest `regs` when it resumes.
    public func setRegisters(_ regs: X86GeneralRegisters, via access: X86RegisterAccess) throws(KVMError) {
        switch access {
        case .syncRegs: try setSyncedRegisters(regs)
        case .ioctls: try setRegisters(regs)
        }
    }
}
#endif

#if arch(x86_64)
/// The CPUID table KVM can offer a guest: a `struct kvm_cpuid2` buffer.
public struct CPUIDTable: Sendable {
    /// `struct kvm_cpuid2` bytes: u32 nent, u32 padding, then 40-byte entries.
    public let bytes: [UInt8]
    public var entryCount: Int { Int(bytes.withUnsafeBytes { $0.load(as: UInt32.self) }) }
}

extension KVMSystem {
    /// CPUID leaves this KVM supports. The corresponding ioctl is `KVM_GET_SUPPORTED_CPUID`.
    public func supportedCPUID(maximumEntries: Int = 256) throws(KVMError) -> CPUIDTable {
        var buffer = [UInt8](repeating: 0, count: 8 + 40 * maximumEntries)
        buffer.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(maximumEntries), as: UInt32.self) }
        let fd = self.fd.rawValue
        let result = buffer.withUnsafeMutableBytes { ckvm_ioctl(fd, CKVM_GET_SUPPORTED_CPUID, $0.baseAddress) }
        if result < 0 { throw KVMError("KVM_GET_SUPPORTED_CPUID", errno: Int32(-result)) }
        return CPUIDTable(bytes: buffer)
    }
}

extension VCPU {
    /// Gives the vCPU a CPUID table. Without one, CPUID hides long mode and
    /// KVM refuses EFER.LME with #GP. The corresponding ioctl is `KVM_SET_CPUID2`.
    public func setCPUID(_ table: CPUIDTable) throws(KVMError) {
        var copy = table.bytes
        let fd = self.fd.rawValue
        let result = copy.withUnsafeMutableBytes { ckvm_ioctl(fd, CKVM_SET_CPUID2, $0.baseAddress) }
        if result < 0 { throw KVMError("KVM_SET_CPUID2", errno: Int32(-result)) }
    }
}
#endif
