import Glibc
import GuestImage
import KVM
import Lifecycle
import Platforms
import PVMHTestSupport
import Testing

/// A VM fd with Android's `KVM_CAP_ARM_PROTECTED_VM` rules, recorded from
/// the Android common kernels' arch/arm64/kvm/pkvm.c (Docs/kvm-abi.md,
/// "Android's protected-VM ABI"): CHECK_EXTENSION answers 1 on a protected
/// VM; INFO copies the pvmfw size (0 without one); SET_FW_IPA is EINVAL
/// without pvmfw and EBUSY once the hypervisor's VM exists (the first
/// KVM_RUN). Upstream does not know the number: CHECK answers 0 and
/// KVM_ENABLE_CAP is EINVAL.
final class AndroidKVMDouble: AndroidProtectedVMControl, @unchecked Sendable {
    enum Kernel { case upstream, android(firmwareSize: UInt64) }
    let kernel: Kernel
    var hasRun = false
    /// INFO fails with this errno (EFAULT: the kernel could not copy out).
    var infoErrno: Int32?
    private(set) var calls: [String] = []
    private(set) var firmwareIPA: UInt64?

    init(_ kernel: Kernel) { self.kernel = kernel }

    func checkProtectedVMCapability() throws(KVMError) -> Int {
        calls.append("CHECK_EXTENSION")
        if case .android = kernel { return 1 }
        return 0
    }

    func protectedVMInfo() throws(KVMError) -> ProtectedVMInfo {
        calls.append("INFO")
        guard case .android(let size) = kernel else { throw KVMError(ProtectedVMCommand.info.operation, errno: EINVAL) }
        if let infoErrno { throw KVMError(ProtectedVMCommand.info.operation, errno: infoErrno) }
        return ProtectedVMInfo(firmwareSize: size)
    }

    func setProtectedVMFirmwareIPA(_ ipa: UInt64) throws(KVMError) {
        calls.append("SET_FW_IPA 0x\(String(ipa, radix: 16))")
        guard case .android(let size) = kernel, size > 0 else { throw KVMError(ProtectedVMCommand.setFirmwareIPA.operation, errno: EINVAL) }
        if hasRun { throw KVMError(ProtectedVMCommand.setFirmwareIPA.operation, errno: EBUSY) }
        firmwareIPA = ipa
    }
}

@Suite("Android's protected-VM capability and the firmware flow (a KVM double)")
struct AndroidFirmwareTests {
    static let ram = GuestRAM(base: ARM64GuestProtocol.ramBase, size: 16 << 20)
    static let region: UInt64 = 0x4000_0000 + (16 << 20) - (4 << 20)

    static func demo() throws -> ELFImage { try #require(BuiltinGuest.named("arm64-demo")).image() }

    @Test func theABIConstantsAreAndroidsUAPI() {
        #expect(UInt32(bitPattern: Capability.armProtectedVM.rawValue) == 0xFFBA_DAB1)
        #expect(Capability.armProtectedVM.extensionArgument == 0xFFBA_DAB1, "KVM_CHECK_EXTENSION's long must not sign-extend")
        #expect(Capability.armProtectedVM.name == "KVM_CAP_ARM_PROTECTED_VM")
        #expect(ProtectedVMCommand.setFirmwareIPA.rawValue == 0 && ProtectedVMCommand.info.rawValue == 1 && ProtectedVMCommand.setFFA.rawValue == 2)
        #expect(ProtectedVMInfo.size == 64)
        var bytes = [UInt8](repeating: 0xEE, count: 64)
        bytes.replaceSubrange(0..<8, with: [0x00, 0x00, 0x20, 0x00, 0, 0, 0, 0])
        #expect(ProtectedVMInfo(bytes: bytes).firmwareSize == 0x20_0000, "firmware_size is the first little-endian u64; the rest is reserved")
        #expect(FirmwareRegion.size == 4 << 20)
        #expect(SMCCCFunction.memRelinquish == 0xC600_0009 && SMCCCFunction.mmioGuardInfo == 0xC600_0005)
    }

    @Test func upstreamWithoutFirmwareBootsTheGuestAndAsksNothingMore() throws {
        let vm = AndroidKVMDouble(.upstream)
        let firmware = try AndroidFirmware.begin(.none, vm: vm)
        #expect(firmware.flavour == .upstream && firmware.info == nil)
        #expect(try firmware.place(Self.demo(), ram: Self.ram, vm: vm) == nil)
        #expect(vm.calls == ["CHECK_EXTENSION"])
    }

    @Test func upstreamRefusesEveryFirmwareInOneSentence() {
        for choice in [FirmwareChoice.device, .file(path: "fw.bin", bytes: [0])] {
            #expect(throws: FirmwareRefusal.notAndroid) { try AndroidFirmware.begin(choice, vm: AndroidKVMDouble(.upstream)) }
        }
        #expect(FirmwareRefusal.notAndroid.description.contains("--firmware none"))
    }

    @Test func androidWithoutFirmwareAsksINFOButNeverSETFWIPA() throws {
        let vm = AndroidKVMDouble(.android(firmwareSize: 0x10_0000))
        let firmware = try AndroidFirmware.begin(.none, vm: vm)
        #expect(firmware.flavour == .android && firmware.info == ProtectedVMInfo(firmwareSize: 0x10_0000))
        #expect(try firmware.place(Self.demo(), ram: Self.ram, vm: vm) == nil)
        #expect(vm.calls == ["CHECK_EXTENSION", "INFO"])
    }

    @Test func aFailedINFOStopsOnlyARunThatNeedsFirmware() throws {
        let vm = AndroidKVMDouble(.android(firmwareSize: 0x10_0000))
        vm.infoErrno = EFAULT
        let firmware = try AndroidFirmware.begin(.none, vm: vm)
        #expect(firmware.flavour == .android && firmware.info == nil)
        #expect(firmware.infoError?.contains("KVM_ENABLE_CAP(KVM_CAP_ARM_PROTECTED_VM, INFO) failed with EFAULT") == true)
        #expect(throws: FirmwareRefusal.kernel(KVMError(ProtectedVMCommand.info.operation, errno: EFAULT))) {
            try AndroidFirmware.begin(.device, vm: vm)
        }
        #expect(PKVMFacts.ask(vm).infoError?.contains("EFAULT") == true)
    }

    @Test func theDevicesFirmwareIsNamedToEL2AtTheTopOfRAMWithPvmfwBootRegisters() throws {
        let vm = AndroidKVMDouble(.android(firmwareSize: 0x10_0000))
        let image = try Self.demo()
        let boot = try #require(try AndroidFirmware.begin(.device, vm: vm).place(image, ram: Self.ram, vm: vm))
        #expect(vm.calls == ["CHECK_EXTENSION", "INFO", "SET_FW_IPA 0x40c00000"])
        #expect(vm.firmwareIPA == Self.region && boot.regionIPA == Self.region && boot.image == nil)
        let end = image.segments.map { $0.guestPhysicalAddress + $0.memorySize }.max()!
        #expect(boot.pc == Self.region)
        #expect(boot.registers == [0, image.entry, end - ARM64GuestProtocol.imageBase, 0], "X0 no device tree, X1 entry, X2 size")
    }

    @Test func aDeviceWithoutPvmfwIsRefusedBeforeSETFWIPA() {
        let vm = AndroidKVMDouble(.android(firmwareSize: 0))
        #expect(throws: FirmwareRefusal.noDeviceFirmware) { try AndroidFirmware.begin(.device, vm: vm) }
        #expect(vm.calls == ["CHECK_EXTENSION", "INFO"])
        #expect(throws: FirmwareRefusal.deviceFirmwareTooLarge(size: 5 << 20)) {
            try AndroidFirmware.begin(.device, vm: AndroidKVMDouble(.android(firmwareSize: 5 << 20)))
        }
    }

    @Test func SETFWIPAAfterTheFirstRunIsEBUSYNamedWithTheIoctl() throws {
        let vm = AndroidKVMDouble(.android(firmwareSize: 0x10_0000))
        let firmware = try AndroidFirmware.begin(.device, vm: vm)
        vm.hasRun = true
        let image = try Self.demo()
        do throws(FirmwareRefusal) {
            _ = try firmware.place(image, ram: Self.ram, vm: vm)
            Issue.record("SET_FW_IPA after the first run must fail")
        } catch {
            #expect(error == .kernel(KVMError(ProtectedVMCommand.setFirmwareIPA.operation, errno: EBUSY)))
            #expect(error.description == "KVM_ENABLE_CAP(KVM_CAP_ARM_PROTECTED_VM, SET_FW_IPA) failed with EBUSY: the VM has run already, and its firmware can only be chosen before the first KVM_RUN")
        }
        let noPvmfw = FirmwareRefusal.kernel(KVMError(ProtectedVMCommand.setFirmwareIPA.operation, errno: EINVAL))
        #expect(noPvmfw.description.hasSuffix("run with --firmware none") && noPvmfw.description.contains("EINVAL"))
    }

    @Test func aFirmwareFileIsLoadedByTheVMMWithoutSETFWIPA() throws {
        let vm = AndroidKVMDouble(.android(firmwareSize: 0x10_0000))
        let bytes: [UInt8] = [0x1F, 0x20, 0x03, 0xD5]
        let boot = try #require(try AndroidFirmware.begin(.file(path: "fw.bin", bytes: bytes), vm: vm).place(Self.demo(), ram: Self.ram, vm: vm))
        #expect(boot.image == bytes && boot.regionIPA == Self.region && boot.pc == Self.region)
        #expect(!vm.calls.contains { $0.hasPrefix("SET_FW_IPA") }, "EL2 would copy the device's pvmfw over the VMM's image")
    }

    @Test func aPayloadReachingTheRegionNeedsMoreMemory() throws {
        let vm = AndroidKVMDouble(.android(firmwareSize: 0x10_0000))
        let small = GuestRAM(base: ARM64GuestProtocol.ramBase, size: 4 << 20)
        #expect(throws: FirmwareRefusal.placement(FirmwarePlacementError(payloadEnd: 0x4008_8000, region: 0x4000_0000))) {
            try AndroidFirmware.begin(.device, vm: vm).place(Self.demo(), ram: small, vm: vm)
        }
        #expect(!vm.calls.contains { $0.hasPrefix("SET_FW_IPA") })
    }

    @Test func firmwareFilesAreReadAndCheckedBeforeAnyVM() throws {
        let base = "/tmp/pvmh-firmware-test-\(getpid())"
        let good = base + "-fw.bin", empty = base + "-empty.bin", large = base + "-large.bin", missing = base + "-missing"
        defer { for path in [good, empty, large] { unlink(path) } }
        try Self.write(good, [1, 2, 3])
        try Self.write(empty, [])
        try Self.write(large, [UInt8](repeating: 0, count: Int(FirmwareRegion.size) + 1))
        #expect(FirmwareChoice.parse("none") == .success(.none))
        #expect(FirmwareChoice.parse("device") == .success(.device))
        #expect(FirmwareChoice.parse(good) == .success(.file(path: good, bytes: [1, 2, 3])))
        #expect(FirmwareChoice.parse(empty) == .failure(.empty(path: empty)))
        #expect(FirmwareChoice.parse(large) == .failure(.tooLarge(path: large)))
        #expect(FirmwareChoice.parse(missing) == .failure(.unreadable(path: missing, errno: ENOENT)))
    }

    static func write(_ path: String, _ bytes: [UInt8]) throws {
        let file = try #require(fopen(path, "wb"), "cannot create \(path)")
        defer { fclose(file) }
        #expect(fwrite(bytes, 1, bytes.count, file) == bytes.count)
    }

    @Test("pvmh probe names the flavour, the device's firmware and what a run does about it; memlock against the default guest")
    func probeLines() {
        let android = PKVMFacts.ask(AndroidKVMDouble(.android(firmwareSize: 0x10_0000)))
        #expect(android == PKVMFacts(flavour: .android, deviceFirmwareBytes: 0x10_0000))
        let lines = Dictionary(uniqueKeysWithValues: android.lines.map { ($0.name, $0.value) })
        #expect(lines["pKVM"]?.hasPrefix("Android's") == true)
        #expect(lines["pVM firmware"]?.contains("1048576 bytes") == true)
        #expect(lines["pVM firmware"]?.contains("a run boots the guest directly (--firmware none)") == true)
        #expect(PKVMFacts.ask(AndroidKVMDouble(.android(firmwareSize: 0))).lines.last?.value.contains("no pvmfw") == true)
        let upstream = PKVMFacts.ask(AndroidKVMDouble(.upstream))
        #expect(upstream == PKVMFacts(flavour: .upstream) && upstream.lines.count == 1 && upstream.lines[0].value.hasPrefix("upstream's"))
        let facts = ARM64HostFacts(mode: ARM64KVMMode(value: "protected", source: .commandLine), protectedVM: .accepted, smcccFilter: .accepted,
                                   guestMemfdFlags: nil, memlock: MemlockBudget(limit: 64 << 10, hasIPCLock: false), pkvm: android)
        let memlock = facts.lines.first { $0.name == "memlock limit" }?.value ?? ""
        #expect(memlock.contains("ulimit -l 4096"), "\(memlock)")
        #expect(facts.lines.contains { $0.name == "pVM firmware" })
    }
}
