#if arch(x86_64)
import CKVM

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
        let values = arguments + Array(repeating: 0, count: max(0, 2 - arguments.count))
        regs.rdi = values[0]
        regs.rsi = values[1]
        try setRegisters(regs)
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
