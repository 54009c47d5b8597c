import CKVM
import Foundation
import KVM
import Testing

/// Where Debian's arm64 uapi headers live (package linux-libc-dev-arm64-cross),
/// and whether this run must have them.
enum ARM64Headers {
    static let include = "/usr/aarch64-linux-gnu/include"
    static let present = FileManager.default.fileExists(atPath: "\(include)/linux/kvm.h")
    /// PVMH_REQUIRE_ARM64_HEADERS=1 turns the skip into a failure (CI sets it
    /// where it installs the package).
    static let required = ProcessInfo.processInfo.environment["PVMH_REQUIRE_ARM64_HEADERS"] == "1"

    /// Tests/abi/arm64-abi-check.c, found from this file's path.
    static func checkSource(filePath: String = #filePath) -> String {
        URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("abi/arm64-abi-check.c").path
    }

    /// The toolchain's clang: beside the real `swiftc` on PATH, else `clang` on PATH.
    static func clang() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let directories = path.split(separator: ":").map(String.init)
        for directory in directories {
            let swiftc = "\(directory)/swiftc"
            guard FileManager.default.isExecutableFile(atPath: swiftc) else { continue }
            let real = URL(fileURLWithPath: swiftc).resolvingSymlinksInPath().deletingLastPathComponent()
            let candidate = real.appendingPathComponent("clang").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return directories.map { "\($0)/clang" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// pvmh's values, from the Swift and CKVM constants the platforms use,
    /// as -D definitions for the C check.
    static var definitions: [String] {
        func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16, uppercase: true) + "ULL" }
        var values: [(String, UInt64)] = [
            ("KVM_CREATE_VM", UInt64(CKVM_CREATE_VM)), ("KVM_CHECK_EXTENSION", UInt64(CKVM_CHECK_EXTENSION)),
            ("KVM_CREATE_VCPU", UInt64(CKVM_CREATE_VCPU)), ("KVM_RUN", UInt64(CKVM_RUN)),
            ("KVM_ARM_VCPU_INIT", UInt64(CKVM_ARM_VCPU_INIT)), ("KVM_ARM_PREFERRED_TARGET", UInt64(CKVM_ARM_PREFERRED_TARGET)),
            ("KVM_GET_ONE_REG", UInt64(CKVM_GET_ONE_REG)), ("KVM_SET_ONE_REG", UInt64(CKVM_SET_ONE_REG)),
            ("KVM_SET_DEVICE_ATTR", UInt64(CKVM_SET_DEVICE_ATTR)),
            ("REG_X0", ARM64Register.x(0).rawValue), ("REG_X1", ARM64Register.x(1).rawValue),
            ("REG_X2", ARM64Register.x(2).rawValue), ("REG_X3", ARM64Register.x(3).rawValue),
            ("REG_X30", ARM64Register.x(30).rawValue), ("REG_SP", ARM64Register.sp.rawValue),
            ("REG_PC", ARM64Register.pc.rawValue), ("REG_PSTATE", ARM64Register.pstate.rawValue),
            ("VCPU_FEATURE_POWER_OFF", UInt64(ARM64VCPUInit.Feature.powerOff.rawValue)),
            ("VCPU_FEATURE_PSCI_0_2", UInt64(ARM64VCPUInit.Feature.psci02.rawValue)),
            ("EXIT_HYPERCALL", UInt64(VCPUExit.Reason.hypercall.rawValue)), ("EXIT_MMIO", UInt64(VCPUExit.Reason.mmio.rawValue)),
            ("EXIT_INTR", UInt64(VCPUExit.Reason.intr.rawValue)), ("EXIT_INTERNAL_ERROR", UInt64(VCPUExit.Reason.internalError.rawValue)),
            ("EXIT_SYSTEM_EVENT", UInt64(VCPUExit.Reason.systemEvent.rawValue)), ("EXIT_ARM_NISV", UInt64(VCPUExit.Reason.armNISV.rawValue)),
            ("SYSTEM_EVENT_SHUTDOWN", UInt64(SystemEvent.Kind.shutdown.rawValue)),
            ("SYSTEM_EVENT_RESET", UInt64(SystemEvent.Kind.reset.rawValue)),
            ("SYSTEM_EVENT_CRASH", UInt64(SystemEvent.Kind.crash.rawValue)),
            ("CAP_ARM_VM_IPA_SIZE", UInt64(Capability.armVMIPASize.rawValue)),
            ("VM_TYPE_ARM_IPA_SIZE_MASK", UInt64(VMType.armIPASizeMask)),
            ("VM_TYPE_ARM_PROTECTED", UInt64(VMType.armProtected.rawValue)),
            ("SMCCC_CTRL_GROUP", UInt64(ARM64SMCCCFilter.group)), ("SMCCC_FILTER_ATTR", ARM64SMCCCFilter.attribute),
            ("SMCCC_FILTER_FWD_TO_USER", UInt64(ARM64SMCCCFilter.Action.forwardToUser.rawValue)),
            ("RUN_SIZE", UInt64(VCPUExit.Layout.size)), ("RUN_EXIT_REASON", UInt64(VCPUExit.Layout.exitReason)),
            ("RUN_IMMEDIATE_EXIT", UInt64(VCPUExit.Layout.immediateExit)), ("RUN_EXIT_UNION", UInt64(VCPUExit.Layout.exitUnion)),
            ("RUN_HYPERCALL_RET", UInt64(VCPUExit.Layout.hypercallReturn)),
        ]
        values.sort { $0.0 < $1.0 }
        return values.map { "-DPVMH_\($0.0)=\(hex($0.1))" }
    }
}

/// Debian's arm64 uapi headers against pvmh's arm64 constants: a C file of
/// _Static_asserts, compiled (never run) for aarch64 by the toolchain's clang.
@Suite("arm64 uapi headers agree with pvmh",
       .enabled(if: ARM64Headers.present || ARM64Headers.required,
                "needs Debian's arm64 uapi headers in /usr/aarch64-linux-gnu/include (apt-get install linux-libc-dev-arm64-cross)"))
struct ARM64HeaderCheckTests {
    @Test("Tests/abi/arm64-abi-check.c compiles for aarch64 with pvmh's values")
    func headersAgree() throws {
        try #require(ARM64Headers.present,
                     "PVMH_REQUIRE_ARM64_HEADERS=1 but \(ARM64Headers.include)/linux/kvm.h is missing; install linux-libc-dev-arm64-cross")
        let clang = try #require(ARM64Headers.clang(), "no clang beside swiftc or on PATH")
        let source = ARM64Headers.checkSource()
        try #require(FileManager.default.fileExists(atPath: source), "\(source) is missing")

        let process = Process()
        process.executableURL = URL(fileURLWithPath: clang)
        process.arguments = ["--target=aarch64-linux-gnu", "-fsyntax-only", "-ffreestanding", "-nostdlibinc",
                             "-isystem", ARM64Headers.include] + ARM64Headers.definitions + [source]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = errors
        try process.run()
        let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()

        // What the headers were too old to compare is said, not hidden.
        for line in output.split(separator: "\n") where line.contains("warning: pvmh-abi:") {
            if let range = line.range(of: "pvmh-abi: ") { print("arm64 uapi check: \(line[range.upperBound...])") }
        }
        let failures = output.split(separator: "\n").filter { $0.contains("error:") }
        #expect(process.terminationStatus == 0,
                "the arm64 headers disagree with pvmh:\n\(failures.joined(separator: "\n"))\n\(failures.isEmpty ? output : "")")
    }

    @Test("a wrong value is caught (the check is not vacuous)")
    func wrongValueFails() throws {
        try #require(ARM64Headers.present, "\(ARM64Headers.include)/linux/kvm.h is missing")
        let clang = try #require(ARM64Headers.clang(), "no clang beside swiftc or on PATH")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: clang)
        process.arguments = ["--target=aarch64-linux-gnu", "-fsyntax-only", "-ffreestanding", "-nostdlibinc",
                             "-isystem", ARM64Headers.include, "-DPVMH_REG_PC=0x6030000000100042ULL", ARM64Headers.checkSource()]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = errors
        try process.run()
        let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
        #expect(output.contains("PC: the arm64 header differs from pvmh"))
    }
}
