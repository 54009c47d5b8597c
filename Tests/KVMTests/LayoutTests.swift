import CKVM
import KVM
import Testing

/// One struct size or field offset: what Swift sees through the CKVM module
/// and what Docs/kvm-abi.md documents.
struct LayoutFact: Sendable, CustomTestStringConvertible {
    var name: String
    var actual: Int?
    var documented: Int
    var testDescription: String { name }

    init(_ name: String, _ actual: Int?, _ documented: Int) {
        self.name = name
        self.actual = actual
        self.documented = documented
    }
}

private typealias Region2 = ckvm_userspace_memory_region2

private let sizes: [LayoutFact] = [
    LayoutFact("sizeof(kvm_create_guest_memfd)", MemoryLayout<ckvm_create_guest_memfd>.size, 64),
    LayoutFact("sizeof(kvm_userspace_memory_region2)", MemoryLayout<Region2>.size, 160),
    LayoutFact("sizeof(kvm_memory_attributes)", MemoryLayout<ckvm_memory_attributes>.size, 32),
    LayoutFact("sizeof(kvm_enable_cap)", MemoryLayout<ckvm_enable_cap>.size, 104),
    LayoutFact("sizeof(kvm_vcpu_init)", MemoryLayout<ckvm_vcpu_init>.size, 32),
    LayoutFact("sizeof(kvm_one_reg)", MemoryLayout<ckvm_one_reg>.size, 16),
    LayoutFact("sizeof(kvm_device_attr)", MemoryLayout<ckvm_device_attr>.size, 24),
    LayoutFact("sizeof(kvm_smccc_filter)", MemoryLayout<ckvm_smccc_filter>.size, 24),
    LayoutFact("sizeof(kvm_run)", MemoryLayout<kvm_run>.size, 2352),
]

private let offsets: [LayoutFact] = [
    LayoutFact("kvm_create_guest_memfd.size", MemoryLayout<ckvm_create_guest_memfd>.offset(of: \.size), 0),
    LayoutFact("kvm_create_guest_memfd.flags", MemoryLayout<ckvm_create_guest_memfd>.offset(of: \.flags), 8),
    LayoutFact("kvm_create_guest_memfd.reserved", MemoryLayout<ckvm_create_guest_memfd>.offset(of: \.reserved), 16),
    LayoutFact("region2.slot", MemoryLayout<Region2>.offset(of: \.slot), 0),
    LayoutFact("region2.flags", MemoryLayout<Region2>.offset(of: \.flags), 4),
    LayoutFact("region2.guest_phys_addr", MemoryLayout<Region2>.offset(of: \.guest_phys_addr), 8),
    LayoutFact("region2.memory_size", MemoryLayout<Region2>.offset(of: \.memory_size), 16),
    LayoutFact("region2.userspace_addr", MemoryLayout<Region2>.offset(of: \.userspace_addr), 24),
    LayoutFact("region2.guest_memfd_offset", MemoryLayout<Region2>.offset(of: \.guest_memfd_offset), 32),
    LayoutFact("region2.guest_memfd", MemoryLayout<Region2>.offset(of: \.guest_memfd), 40),
    LayoutFact("region2.pad1", MemoryLayout<Region2>.offset(of: \.pad1), 44),
    LayoutFact("region2.pad2", MemoryLayout<Region2>.offset(of: \.pad2), 48),
    LayoutFact("kvm_memory_attributes.address", MemoryLayout<ckvm_memory_attributes>.offset(of: \.address), 0),
    LayoutFact("kvm_memory_attributes.size", MemoryLayout<ckvm_memory_attributes>.offset(of: \.size), 8),
    LayoutFact("kvm_memory_attributes.attributes", MemoryLayout<ckvm_memory_attributes>.offset(of: \.attributes), 16),
    LayoutFact("kvm_memory_attributes.flags", MemoryLayout<ckvm_memory_attributes>.offset(of: \.flags), 24),
    LayoutFact("kvm_enable_cap.cap", MemoryLayout<ckvm_enable_cap>.offset(of: \.cap), 0),
    LayoutFact("kvm_enable_cap.flags", MemoryLayout<ckvm_enable_cap>.offset(of: \.flags), 4),
    LayoutFact("kvm_enable_cap.args", MemoryLayout<ckvm_enable_cap>.offset(of: \.args), 8),
    LayoutFact("kvm_enable_cap.pad", MemoryLayout<ckvm_enable_cap>.offset(of: \.pad), 40),
    LayoutFact("kvm_vcpu_init.target", MemoryLayout<ckvm_vcpu_init>.offset(of: \.target), 0),
    LayoutFact("kvm_vcpu_init.features", MemoryLayout<ckvm_vcpu_init>.offset(of: \.features), 4),
    LayoutFact("kvm_one_reg.id", MemoryLayout<ckvm_one_reg>.offset(of: \.id), 0),
    LayoutFact("kvm_one_reg.addr", MemoryLayout<ckvm_one_reg>.offset(of: \.addr), 8),
    LayoutFact("kvm_device_attr.flags", MemoryLayout<ckvm_device_attr>.offset(of: \.flags), 0),
    LayoutFact("kvm_device_attr.group", MemoryLayout<ckvm_device_attr>.offset(of: \.group), 4),
    LayoutFact("kvm_device_attr.attr", MemoryLayout<ckvm_device_attr>.offset(of: \.attr), 8),
    LayoutFact("kvm_device_attr.addr", MemoryLayout<ckvm_device_attr>.offset(of: \.addr), 16),
    LayoutFact("kvm_smccc_filter.base", MemoryLayout<ckvm_smccc_filter>.offset(of: \.base), 0),
    LayoutFact("kvm_smccc_filter.nr_functions", MemoryLayout<ckvm_smccc_filter>.offset(of: \.nr_functions), 4),
    LayoutFact("kvm_smccc_filter.action", MemoryLayout<ckvm_smccc_filter>.offset(of: \.action), 8),
    LayoutFact("kvm_smccc_filter.pad", MemoryLayout<ckvm_smccc_filter>.offset(of: \.pad), 9),
    LayoutFact("kvm_run.immediate_exit", MemoryLayout<kvm_run>.offset(of: \.immediate_exit), 1),
    LayoutFact("kvm_run.exit_reason", MemoryLayout<kvm_run>.offset(of: \.exit_reason), 8),
]

/// What VCPUExit decodes with, against what the C compiler computed.
private let runOffsets: [LayoutFact] = [
    LayoutFact("VCPUExit.Layout.immediateExit", VCPUExit.Layout.immediateExit, CKVM_RUN_IMMEDIATE_EXIT_OFFSET),
    LayoutFact("VCPUExit.Layout.exitReason", VCPUExit.Layout.exitReason, CKVM_RUN_EXIT_REASON_OFFSET),
    LayoutFact("VCPUExit.Layout.exitUnion", VCPUExit.Layout.exitUnion, CKVM_RUN_EXIT_UNION_OFFSET),
    LayoutFact("VCPUExit.Layout.hypercallReturn", VCPUExit.Layout.hypercallReturn, CKVM_RUN_HYPERCALL_RET_OFFSET),
    LayoutFact("VCPUExit.Layout.size", VCPUExit.Layout.size, CKVM_RUN_SIZE),
]

/// One exit reason: pvmh's enum against the distro header's KVM_EXIT_* macro
/// (or Docs/kvm-abi.md for values the 6.1 header predates).
struct ExitReasonFact: Sendable, CustomTestStringConvertible {
    var reason: VCPUExit.Reason
    var headerValue: Int32
    var testDescription: String { reason.name }
}

private let exitReasons: [ExitReasonFact] = [
    ExitReasonFact(reason: .io, headerValue: KVM_EXIT_IO),
    ExitReasonFact(reason: .hypercall, headerValue: KVM_EXIT_HYPERCALL),
    ExitReasonFact(reason: .debug, headerValue: KVM_EXIT_DEBUG),
    ExitReasonFact(reason: .hlt, headerValue: KVM_EXIT_HLT),
    ExitReasonFact(reason: .mmio, headerValue: KVM_EXIT_MMIO),
    ExitReasonFact(reason: .shutdown, headerValue: KVM_EXIT_SHUTDOWN),
    ExitReasonFact(reason: .failEntry, headerValue: KVM_EXIT_FAIL_ENTRY),
    ExitReasonFact(reason: .intr, headerValue: KVM_EXIT_INTR),
    ExitReasonFact(reason: .internalError, headerValue: KVM_EXIT_INTERNAL_ERROR),
    ExitReasonFact(reason: .systemEvent, headerValue: KVM_EXIT_SYSTEM_EVENT),
    // Linux 6.8; Debian 12's header lacks it, so the value comes from Docs/kvm-abi.md.
    ExitReasonFact(reason: .memoryFault, headerValue: 39),
]

@Suite("kvm uapi layouts")
struct LayoutTests {
    @Test("struct sizes match Docs/kvm-abi.md", arguments: sizes)
    func size(_ fact: LayoutFact) {
        #expect(fact.actual == fact.documented, "\(fact.name)")
    }

    @Test("field offsets match Docs/kvm-abi.md", arguments: offsets)
    func offset(_ fact: LayoutFact) throws {
        let actual = try #require(fact.actual, "\(fact.name) has no stored-field offset")
        #expect(actual == fact.documented, "\(fact.name)")
    }

    @Test("VCPUExit.Layout equals the CKVM_RUN_* exports", arguments: runOffsets)
    func runLayout(_ fact: LayoutFact) {
        #expect(fact.actual == fact.documented, "\(fact.name)")
    }

    @Test("kvm_run offsets are the documented ones")
    func runLayoutDocumented() {
        #expect(CKVM_RUN_IMMEDIATE_EXIT_OFFSET == 1)
        #expect(CKVM_RUN_EXIT_REASON_OFFSET == 8)
        #expect(CKVM_RUN_EXIT_UNION_OFFSET == 32)
        #expect(CKVM_RUN_HYPERCALL_RET_OFFSET == 88)
        #expect(CKVM_RUN_SIZE == 2352)
    }

    @Test("VCPUExit.Reason raw values equal the header's KVM_EXIT_* values", arguments: exitReasons)
    func exitReason(_ fact: ExitReasonFact) {
        #expect(fact.reason.rawValue == UInt32(fact.headerValue))
    }

    @Test("exit reason names are the kernel's", arguments: [
        (VCPUExit.Reason.io, "KVM_EXIT_IO"), (.hlt, "KVM_EXIT_HLT"), (.debug, "KVM_EXIT_DEBUG"),
        (.memoryFault, "KVM_EXIT_MEMORY_FAULT"), (.systemEvent, "KVM_EXIT_SYSTEM_EVENT"),
        (.internalError, "KVM_EXIT_INTERNAL_ERROR"), (.failEntry, "KVM_EXIT_FAIL_ENTRY"), (.intr, "KVM_EXIT_INTR"),
    ])
    func exitReasonName(_ reason: VCPUExit.Reason, _ name: String) {
        #expect(reason.name == name)
    }

    @Test("every VCPUExit.Reason has a distinct KVM_EXIT_ name")
    func exitReasonNamesDistinct() {
        let names = VCPUExit.Reason.allCases.map(\.name)
        #expect(Set(names).count == names.count)
        #expect(names.allSatisfy { $0.hasPrefix("KVM_EXIT_") })
    }
}
