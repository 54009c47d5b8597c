import CKVM
import Glibc

/// The argument of `KVM_ARM_VCPU_INIT` (and the answer of
/// `KVM_ARM_PREFERRED_TARGET`): a CPU target and seven 32-bit feature words.
public struct ARM64VCPUInit: Equatable, Sendable {
    /// A `KVM_ARM_VCPU_*` feature: a bit number across the feature words.
    public struct Feature: RawRepresentable, Hashable, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// `KVM_ARM_VCPU_POWER_OFF`: the vCPU starts off and waits for PSCI CPU_ON.
        public static let powerOff = Feature(rawValue: 0)
        /// `KVM_ARM_VCPU_EL1_32BIT`.
        public static let el1AArch32 = Feature(rawValue: 1)
        /// `KVM_ARM_VCPU_PSCI_0_2`: PSCI 0.2+ (SYSTEM_OFF, SYSTEM_RESET, CPU_ON by MPIDR).
        public static let psci02 = Feature(rawValue: 2)
        /// `KVM_ARM_VCPU_PMU_V3`.
        public static let pmuV3 = Feature(rawValue: 3)
    }

    public var target: UInt32
    /// Exactly seven words, as in `struct kvm_vcpu_init`.
    public private(set) var features: [UInt32]

    public init(target: UInt32, features: [Feature] = []) {
        self.target = target
        self.features = Array(repeating: 0, count: 7)
        for feature in features { insert(feature) }
    }

    public mutating func insert(_ feature: Feature) {
        precondition((0..<7 * 32).contains(feature.rawValue), "feature bit \(feature.rawValue) is outside kvm_vcpu_init")
        features[feature.rawValue / 32] |= 1 << UInt32(feature.rawValue % 32)
    }

    public func contains(_ feature: Feature) -> Bool {
        features[feature.rawValue / 32] & (1 << UInt32(feature.rawValue % 32)) != 0
    }

    /// The C struct.
    public var raw: ckvm_vcpu_init {
        var value = ckvm_vcpu_init()
        value.target = target
        withUnsafeMutableBytes(of: &value.features) { bytes in
            for (index, word) in features.enumerated() {
                bytes.storeBytes(of: word, toByteOffset: 4 * index, as: UInt32.self)
            }
        }
        return value
    }

    public init(raw: ckvm_vcpu_init) {
        target = raw.target
        features = withUnsafeBytes(of: raw.features) { bytes in
            (0..<7).map { bytes.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self) }
        }
    }
}

extension VCPU {
    /// Initialises an arm64 vCPU: its target CPU and features (PSCI 0.2, and
    /// power-off for secondaries). Must precede every register access and the
    /// first run. The corresponding ioctl is `KVM_ARM_VCPU_INIT`.
    public func initialize(_ request: ARM64VCPUInit) throws(KVMError) {
        var raw = request.raw
        do {
            _ = try Syscall.ioctl(fd.rawValue, CKVM_ARM_VCPU_INIT, &raw, "KVM_ARM_VCPU_INIT")
        } catch {
            let hint: String? = error.errno == EINVAL
                ? "the target \(request.target) or a feature bit is not accepted here (take the target from KVM_ARM_PREFERRED_TARGET)"
                : nil
            throw KVMError(error.operation, errno: error.errno, hint: hint)
        }
    }

    /// Reads one register. The corresponding ioctl is `KVM_GET_ONE_REG`.
    public func register(_ register: ARM64Register) throws(KVMError) -> UInt64 {
        var value: UInt64 = 0
        let fd = self.fd.rawValue
        let result = withUnsafeMutablePointer(to: &value) { pointer in
            var request = ckvm_one_reg(id: register.rawValue, addr: UInt64(UInt(bitPattern: pointer)))
            return withUnsafeMutablePointer(to: &request) { ckvm_ioctl(fd, CKVM_GET_ONE_REG, $0) }
        }
        if result < 0 { throw KVMError("KVM_GET_ONE_REG(\(register))", errno: Int32(-result)) }
        return value
    }

    /// Writes one register. The corresponding ioctl is `KVM_SET_ONE_REG`.
    public func setRegister(_ register: ARM64Register, _ value: UInt64) throws(KVMError) {
        var copy = value
        let fd = self.fd.rawValue
        let result = withUnsafeMutablePointer(to: &copy) { pointer in
            var request = ckvm_one_reg(id: register.rawValue, addr: UInt64(UInt(bitPattern: pointer)))
            return withUnsafeMutablePointer(to: &request) { ckvm_ioctl(fd, CKVM_SET_ONE_REG, $0) }
        }
        if result < 0 { throw KVMError("KVM_SET_ONE_REG(\(register))", errno: Int32(-result)) }
    }

    /// Reads several registers, in order (one `KVM_GET_ONE_REG` each).
    public func registers(_ list: [ARM64Register]) throws(KVMError) -> [UInt64] {
        var values: [UInt64] = []
        values.reserveCapacity(list.count)
        for item in list { values.append(try register(item)) }
        return values
    }

    /// Puts the vCPU in `state` (one `KVM_SET_ONE_REG` per register).
    public func setBootState(_ state: ARM64BootState) throws(KVMError) {
        for write in state.registerWrites { try setRegister(write.register, write.value) }
    }
}

extension VirtualMachine {
    /// The CPU target (and features) KVM prefers for vCPUs of this VM on
    /// this host. The corresponding ioctl is `KVM_ARM_PREFERRED_TARGET`.
    public func preferredTarget() throws(KVMError) -> ARM64VCPUInit {
        var raw = ckvm_vcpu_init()
        _ = try Syscall.ioctl(fd.rawValue, CKVM_ARM_PREFERRED_TARGET, &raw, "KVM_ARM_PREFERRED_TARGET")
        return ARM64VCPUInit(raw: raw)
    }
}
