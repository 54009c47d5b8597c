import CKVM
import Glibc
@testable import KVM
import PVMHTestSupport
import Testing

/// The arm64 KVM ABI as plain values: ONE_REG ids, struct layouts, ioctl
/// numbers, the protected VM type and the SMCCC filter, all against
/// Docs/kvm-abi.md. None of it needs arm64 hardware.
@Suite("arm64 KVM ABI")
struct ARM64ABITests {
    // MARK: ONE_REG ids

    @Test("X0…X30 are 0x6030000000100000 + 2n", arguments: 0...30)
    func generalRegisterIDs(_ n: Int) {
        #expect(ARM64Register.x(n).rawValue == 0x6030_0000_0010_0000 + 2 * UInt64(n))
        #expect(ARM64Register.x(n).description == "X\(n)")
        #expect(ARM64Register.x(n).coreIndex == 2 * n)
    }

    @Test("SP, PC and PSTATE are …3e, …40 and …42")
    func specialRegisterIDs() {
        #expect(ARM64Register.sp.rawValue == 0x6030_0000_0010_003E)
        #expect(ARM64Register.pc.rawValue == 0x6030_0000_0010_0040)
        #expect(ARM64Register.pstate.rawValue == 0x6030_0000_0010_0042)
        #expect([ARM64Register.sp, .pc, .pstate].map(\.description) == ["SP", "PC", "PSTATE"])
        #expect(ARM64Register.allCore.count == 34)
        #expect(Set(ARM64Register.allCore).count == 34)
    }

    @Test("the id is KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | offset/4")
    func encodingFields() {
        #expect(ARM64Register.architectureARM64 == 0x6000_0000_0000_0000)
        #expect(ARM64Register.sizeU64 == 0x0030_0000_0000_0000)
        #expect(ARM64Register.coreGroup == 0x0010_0000)
        // struct kvm_regs: user_pt_regs { u64 regs[31]; u64 sp; u64 pc; u64 pstate; }
        #expect(ARM64Register.core(byteOffset: 264) == .pstate)
        let firmware = ARM64Register(rawValue: 0x6030_0000_0014_0001)  // KVM_REG_ARM_FW_REG(1)
        #expect(firmware.coreIndex == nil)
        #expect(firmware.description == "register 0x6030000000140001")
    }

    // MARK: Layouts

    @Test("struct sizes and offsets", arguments: [
        LayoutFact("sizeof(kvm_vcpu_init)", MemoryLayout<ckvm_vcpu_init>.size, 32),
        LayoutFact("kvm_vcpu_init.target", MemoryLayout<ckvm_vcpu_init>.offset(of: \.target), 0),
        LayoutFact("kvm_vcpu_init.features", MemoryLayout<ckvm_vcpu_init>.offset(of: \.features), 4),
        LayoutFact("sizeof(kvm_one_reg)", MemoryLayout<ckvm_one_reg>.size, 16),
        LayoutFact("kvm_one_reg.id", MemoryLayout<ckvm_one_reg>.offset(of: \.id), 0),
        LayoutFact("kvm_one_reg.addr", MemoryLayout<ckvm_one_reg>.offset(of: \.addr), 8),
        LayoutFact("sizeof(kvm_device_attr)", MemoryLayout<ckvm_device_attr>.size, 24),
        LayoutFact("kvm_device_attr.flags", MemoryLayout<ckvm_device_attr>.offset(of: \.flags), 0),
        LayoutFact("kvm_device_attr.group", MemoryLayout<ckvm_device_attr>.offset(of: \.group), 4),
        LayoutFact("kvm_device_attr.attr", MemoryLayout<ckvm_device_attr>.offset(of: \.attr), 8),
        LayoutFact("kvm_device_attr.addr", MemoryLayout<ckvm_device_attr>.offset(of: \.addr), 16),
        LayoutFact("sizeof(kvm_smccc_filter)", MemoryLayout<ckvm_smccc_filter>.size, 24),
        LayoutFact("kvm_smccc_filter.base", MemoryLayout<ckvm_smccc_filter>.offset(of: \.base), 0),
        LayoutFact("kvm_smccc_filter.nr_functions", MemoryLayout<ckvm_smccc_filter>.offset(of: \.nr_functions), 4),
        LayoutFact("kvm_smccc_filter.action", MemoryLayout<ckvm_smccc_filter>.offset(of: \.action), 8),
        LayoutFact("kvm_smccc_filter.pad", MemoryLayout<ckvm_smccc_filter>.offset(of: \.pad), 9),
    ])
    func layout(_ fact: LayoutFact) {
        #expect(fact.actual == fact.documented, "\(fact.name) is \(fact.actual.map(String.init) ?? "nil"), Docs/kvm-abi.md says \(fact.documented)")
    }

    // MARK: ioctl numbers

    @Test("arm64 ioctl numbers, their argument sizes and directions")
    func ioctlNumbers() {
        func size(_ request: UInt) -> Int { Int((request >> 16) & 0x3FFF) }
        func direction(_ request: UInt) -> UInt { request >> 30 }
        #expect(CKVM_ARM_PREFERRED_TARGET == 0x8020_AEAF)
        #expect(CKVM_ARM_VCPU_INIT == 0x4020_AEAE)
        #expect(CKVM_GET_ONE_REG == 0x4010_AEAB)
        #expect(CKVM_SET_ONE_REG == 0x4010_AEAC)
        #expect(CKVM_SET_DEVICE_ATTR == 0x4018_AEE1)
        #expect(size(CKVM_ARM_PREFERRED_TARGET) == MemoryLayout<ckvm_vcpu_init>.size)
        #expect(size(CKVM_ARM_VCPU_INIT) == MemoryLayout<ckvm_vcpu_init>.size)
        #expect(size(CKVM_GET_ONE_REG) == MemoryLayout<ckvm_one_reg>.size)
        #expect(size(CKVM_SET_DEVICE_ATTR) == MemoryLayout<ckvm_device_attr>.size)
        #expect(direction(CKVM_ARM_PREFERRED_TARGET) == 2, "_IOR: the kernel writes the answer")
        #expect(direction(CKVM_ARM_VCPU_INIT) == 1, "_IOW")
        // GET_ONE_REG is _IOW too: the kernel writes through kvm_one_reg.addr, not the struct.
        #expect(direction(CKVM_GET_ONE_REG) == 1)
    }

    // MARK: VM types

    @Test("KVM_VM_TYPE_ARM_PROTECTED is 0x80000000 with the IPA size in bits 7:0")
    func protectedVMType() {
        #expect(VMType.armProtected.rawValue == 0x8000_0000)
        #expect(VMType.armProtected.description == "KVM_VM_TYPE_ARM_PROTECTED")
        #expect(VMType.armProtected(ipaBits: 0) == .armProtected)
        #expect(VMType.armProtected(ipaBits: 44).rawValue == 0x8000_002C)
        #expect(VMType.armIPASizeMask == 0xFF)
        #expect(Capability.armVMIPASize.rawValue == 165)
    }

    @Test("IPA bits: 0 (KVM's 40-bit default) until RAM reaches past 1 TiB", arguments: [
        (0x4040_0000 - 1, 0), (0xFF_FFFF_FFFF, 0), (0x100_0000_0000, 41), (0xFFF_FFFF_FFFF, 44), (0, 0),
    ] as [(UInt64, UInt8)])
    func ipaBits(_ highest: UInt64, _ bits: UInt8) {
        #expect(VMType.armIPABits(toReach: highest) == bits)
    }

    // MARK: vCPU init and boot state

    @Test("KVM_ARM_VCPU_INIT features: PSCI 0.2 is features[0] bit 2, power-off bit 0")
    func vcpuInit() {
        var request = ARM64VCPUInit(target: 5, features: [.psci02])
        #expect(request.features == [4, 0, 0, 0, 0, 0, 0])
        #expect(request.contains(.psci02) && !request.contains(.powerOff))
        request.insert(.powerOff)
        #expect(request.features[0] == 5)
        let raw = request.raw
        #expect(raw.target == 5)
        #expect(withUnsafeBytes(of: raw) { Array($0) } == [5, 0, 0, 0, 5, 0, 0, 0] + [UInt8](repeating: 0, count: 24))
        #expect(ARM64VCPUInit(raw: raw) == request)
        var high = ARM64VCPUInit(target: 0)
        high.insert(ARM64VCPUInit.Feature(rawValue: 33))
        #expect(high.features[1] == 2)
    }

    @Test("bare-metal boot state: X0–X3 zero, PSTATE EL1h with DAIF masked (0x3C5), PC last")
    func bootState() {
        #expect(ARM64PSTATE.bareMetalBoot == 0x3C5)
        let state = ARM64BootState(entry: 0x4008_0000)
        let writes = state.registerWrites.map { "\($0.register)=0x\(String($0.value, radix: 16))" }
        #expect(writes == ["X0=0x0", "X1=0x0", "X2=0x0", "X3=0x0", "PSTATE=0x3c5", "PC=0x40080000"])
    }

    // MARK: SMCCC filter

    @Test("the SMCCC filter payload and the forwarded pKVM ranges")
    func smcccFilter() {
        #expect(ARM64SMCCCFilter.group == 0 && ARM64SMCCCFilter.attribute == 0)
        #expect(ARM64SMCCCFilter.Action.forwardToUser.rawValue == 2)
        let ranges = ARM64SMCCCFilter.pKVMVendorCalls
        #expect(ranges.map(\.base) == [0xC600_0000, 0x8600_0000])
        #expect(ranges.map(\.count) == [5, 1])
        #expect(ranges.allSatisfy { $0.action == .forwardToUser })
        for id: UInt64 in [0xC600_0000, 0xC600_0002, 0xC600_0003, 0xC600_0004, 0x8600_0000] {
            #expect(ranges.contains { $0.contains(id) }, "0x\(String(id, radix: 16)) must be forwarded")
        }
        for id: UInt64 in [0xC600_0005, 0xC600_0007, 0x8600_0001, 0x8400_0008, 0x8400_0000] {
            #expect(!ranges.contains { $0.contains(id) }, "0x\(String(id, radix: 16)) must stay with KVM")
        }
        let raw = ranges[0].raw
        #expect(withUnsafeBytes(of: raw) { Array($0) } == [0, 0, 0, 0xC6, 5, 0, 0, 0, 2] + [UInt8](repeating: 0, count: 15))
    }

    @Test("SMCCC filter errors say what they mean", arguments: [
        (ENXIO, "Linux 6.4"), (EINVAL, "protected VMs"), (EBUSY, "before the first KVM_RUN"), (EEXIST, "overlaps"),
    ])
    func smcccFilterHints(_ error: Int32, _ phrase: String) {
        #expect(ARM64SMCCCFilter.hint(errno: error)?.contains(phrase) == true)
        #expect(ARM64SMCCCFilter.hint(errno: EIO) == nil)
    }
}

/// The arm64 vCPU wrappers over an fd that is not KVM: each error keeps the
/// ioctl (and register) name and the errno.
@Suite("arm64 vCPU wrappers over a bad fd")
struct ARM64WrapperErrorTests {
    enum Operation: String, CaseIterable, Sendable {
        case initialize = "KVM_ARM_VCPU_INIT"
        case getPC = "KVM_GET_ONE_REG(PC)"
        case setX1 = "KVM_SET_ONE_REG(X1)"
        case bootState = "KVM_SET_ONE_REG(X0)"
    }

    @Test("vCPU ioctls throw their name and errno", arguments: Operation.allCases, BrokenFD.allCases)
    func operation(_ operation: Operation, _ fd: BrokenFD) throws {
        let vcpu = try WrapperErrorTests.vcpu(over: fd)
        let error = #expect(throws: KVMError.self) {
            switch operation {
            case .initialize: try vcpu.initialize(ARM64VCPUInit(target: 0, features: [.psci02]))
            case .getPC: _ = try vcpu.register(.pc)
            case .setX1: try vcpu.setRegister(.x(1), 7)
            case .bootState: try vcpu.setBootState(ARM64BootState(entry: 0x4008_0000))
            }
        }
        #expect(error?.operation == operation.rawValue)
        #expect(error?.errno == fd.ioctlErrno)
    }
}

/// VM-fd arm64 wrappers need a KVMSystem, so they are gated like the other
/// VM error tests; the VM fd itself is /dev/null or closed.
@Suite("arm64 VM wrappers over a bad fd", .enabled(if: KVMGate.enabled, "needs read/write /dev/kvm"))
struct ARM64VirtualMachineErrorTests {
    @Test("KVM_ARM_PREFERRED_TARGET and the SMCCC filter keep their names", arguments: BrokenFD.allCases)
    func vmOperations(_ fd: BrokenFD) throws {
        let system = try KVMSystem(path: KVMGate.path)
        let vm = VirtualMachine(fd: try fd.make(kind: "kvm-vm"), system: system, type: .default)
        let target = #expect(throws: KVMError.self) { _ = try vm.preferredTarget() }
        #expect(target?.operation == "KVM_ARM_PREFERRED_TARGET")
        #expect(target?.errno == fd.ioctlErrno)
        let filter = #expect(throws: KVMError.self) { try vm.setSMCCCFilter(ARM64SMCCCFilter.pKVMVendorCalls[0]) }
        #expect(filter?.operation == "KVM_SET_DEVICE_ATTR(KVM_ARM_VM_SMCCC_FILTER 0xC6000000+5)")
        #expect(filter?.errno == fd.ioctlErrno)
    }

    #if arch(x86_64)
    @Test("an x86 kernel refuses KVM_VM_TYPE_ARM_PROTECTED with EINVAL and a hint naming it")
    func protectedVMRefusedOnX86() throws {
        let system = try KVMSystem(path: KVMGate.path)
        let error = #expect(throws: KVMError.self) { _ = try system.createVM(type: .armProtected) }
        #expect(error?.operation == "KVM_CREATE_VM(KVM_VM_TYPE_ARM_PROTECTED)")
        #expect(error?.errno == EINVAL)
        #expect(error?.hint?.contains("KVM_VM_TYPE_ARM_PROTECTED") == true)
    }
    #endif
}
