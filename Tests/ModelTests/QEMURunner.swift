import Foundation
import GuestImage
import Glibc

/// Runs an arm64 guest image under `qemu-system-aarch64 -M virt`, the
/// independent CPU the built-in arm64 guests are checked against (its `virt`
/// machine has the same RAM base, PL011 address and harness window as
/// ARM64GuestProtocol).
///
/// Each run writes the ELF to a fresh temporary directory, starts QEMU with a
/// hard timeout (SIGKILL on expiry) and removes the directory afterwards.
/// With `trace`, QEMU logs the CPU state before instructions (`-d cpu,nochain`
/// with one instruction per translation block, so no instruction escapes the
/// log); the runner reads X0…X7 at every HVC from that log. Which words are
/// HVCs is decided from the ELF's own executable segments
/// (`0xD4000002 | imm16 << 5`), never from QEMU's disassembler.
///
/// Under QEMU `virt` without EL2 there is no hypervisor: QEMU answers PSCI
/// itself (SYSTEM_OFF ends QEMU with status 0 because of `-no-reboot`) and
/// answers every other HVC with SMCCC NOT_SUPPORTED (-1) in X0, without an
/// exception (QEMU 7.2, as tested). That is how host KVM answers a
/// non-protected VM, so the model's counterpart is
/// `ModelConfiguration`'s `vendorCalls: false`.
enum QEMURunner {
    /// The program the runner starts.
    static let executableName = "qemu-system-aarch64"

    /// Set to 1 where QEMU must be present (CI): the QEMU suites then run,
    /// and fail if it is missing instead of being skipped.
    static let requireVariable = "PVMH_REQUIRE_QEMU"

    static var required: Bool {
        getenv(requireVariable).map { String(cString: $0) == "1" } ?? false
    }

    /// `qemu-system-aarch64` on PATH, or nil.
    static let executablePath: String? = {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(executableName)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }()

    /// Whether the QEMU suites run: QEMU is installed, or PVMH_REQUIRE_QEMU=1
    /// says it must be (then a missing QEMU fails the tests).
    static var isAvailable: Bool { required || executablePath != nil }

    /// QEMU's (major, minor) version from `--version`, or nil if unreadable.
    static let version: (major: Int, minor: Int)? = {
        guard let executable = executablePath,
              let output = try? runToCompletion(executable, ["--version"]) else { return nil }
        // "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)"
        guard let range = output.range(of: "version ") else { return nil }
        let numbers = output[range.upperBound...].prefix { $0.isNumber || $0 == "." }.split(separator: ".")
        guard numbers.count >= 2, let major = Int(numbers[0]), let minor = Int(numbers[1]) else { return nil }
        return (major, minor)
    }()

    /// The option that makes every translation block one instruction long:
    /// `-singlestep` up to QEMU 8.0, `-accel tcg,one-insn-per-tb=on` from 8.1
    /// (the old spelling was deprecated then and later removed).
    static var oneInstructionPerBlock: [String] {
        if let version, version.major > 8 || (version.major == 8 && version.minor >= 1) {
            return ["-accel", "tcg,one-insn-per-tb=on"]
        }
        return ["-accel", "tcg", "-singlestep"]
    }

    /// Boots `elf` on QEMU `virt` (`-cpu max -m 128M`, the PL011 captured,
    /// no other device) and returns what happened.
    ///
    /// - Parameters:
    ///   - elf: an aarch64 ELF64 executable linked for QEMU `virt` RAM
    ///     (ARM64GuestProtocol.imageBase).
    ///   - timeoutSeconds: QEMU is killed (SIGKILL) if it is still running
    ///     after this long; the run then ends with `.timedOut`.
    ///   - trace: log the CPU state at every HVC and fill `hvcCalls`.
    ///   - everyInstruction: with `trace`, log every instruction, not only the
    ///     HVCs, and return them all in `states` (a lockstep comparison's
    ///     input; about 750 bytes of log per instruction).
    ///   - cpus: `-smp`: secondaries wait for PSCI CPU_ON (QEMU implements
    ///     PSCI over HVC for a guest at EL1).
    ///   - keepTraceAt: move QEMU's raw log to this path instead of deleting
    ///     it (the caller removes it); `QEMURun.tracePath` names it.
    static func run(
        elf: [UInt8], timeoutSeconds: Double = 10, trace: Bool = false,
        everyInstruction: Bool = false, keepTraceAt: String? = nil, cpus: Int = 1
    ) throws -> QEMURun {
        guard let executable = executablePath else { throw QEMURunnerError.notInstalled }
        let image: ELFImage
        do {
            image = try ELFImage(bytes: elf, expecting: .aarch64)
        } catch {
            throw QEMURunnerError.badImage(error)
        }
        let hvcSites = hvcSites(in: image)

        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("pvmh-qemu-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: directory) }
        let elfPath = directory.appendingPathComponent("guest.elf").path
        let uartPath = directory.appendingPathComponent("uart.txt").path
        let outputPath = directory.appendingPathComponent("qemu-output.txt").path
        let tracePath = directory.appendingPathComponent("trace.log").path
        guard FileManager.default.createFile(atPath: elfPath, contents: Data(elf)),
              FileManager.default.createFile(atPath: outputPath, contents: nil)
        else { throw QEMURunnerError.temporaryFiles(directory.path) }

        var arguments = [
            "-M", "virt", "-cpu", "max", "-m", "128M", "-smp", String(cpus),
            "-nodefaults", "-display", "none", "-monitor", "none",
            "-serial", "file:\(uartPath)", "-no-reboot",
            "-kernel", elfPath,
        ]
        // A trace of the HVCs only needs the states at their addresses:
        // -dfilter keeps the log to a few lines instead of ~50 MB.
        let tracing = trace && (everyInstruction || !hvcSites.isEmpty)
        if tracing {
            arguments += oneInstructionPerBlock + ["-d", "cpu,nochain", "-D", tracePath]
            if !everyInstruction {
                let ranges = hvcSites.keys.sorted().map { "0x\(String($0, radix: 16))+4" }
                arguments += ["-dfilter", ranges.joined(separator: ",")]
            }
        }

        let start = Date()
        let reason = try launch(executable, arguments, outputPath: outputPath, timeoutSeconds: timeoutSeconds)
        let elapsed = Date().timeIntervalSince(start)

        let uart = String(decoding: FileManager.default.contents(atPath: uartPath) ?? Data(), as: UTF8.self)
        let qemuOutput = String(decoding: FileManager.default.contents(atPath: outputPath) ?? Data(), as: UTF8.self)

        var states: [QEMUCPUState] = []
        var keptTrace: String?
        if tracing {
            // A QEMU killed before its first logged instruction leaves no file.
            let log = FileManager.default.contents(atPath: tracePath).map { [UInt8]($0) } ?? []
            states = QEMUTraceParser.states(in: log)
            if let keepTraceAt {
                try? FileManager.default.removeItem(atPath: keepTraceAt)
                try FileManager.default.moveItem(atPath: tracePath, toPath: keepTraceAt)
                keptTrace = keepTraceAt
            }
        }
        let hvcCalls = states.compactMap { state in
            hvcSites[state.pc].map { HVCCall(pc: state.pc, immediate: $0, x: Array(state.x.prefix(8)), state: state) }
        }
        return QEMURun(
            uart: uart, hvcCalls: hvcCalls, states: everyInstruction ? states : [],
            exitReason: reason, qemuOutput: qemuOutput, tracePath: keptTrace,
            commandLine: ([executable] + arguments).joined(separator: " "), elapsedSeconds: elapsed)
    }

    /// Every HVC in the image's executable segments: address → imm16.
    ///
    /// A word in code that only looks like an HVC (a literal pool) does no
    /// harm: it is reported only if QEMU executes it, and then it is one.
    static func hvcSites(in image: ELFImage) -> [UInt64: UInt16] {
        var sites: [UInt64: UInt16] = [:]
        for segment in image.segments where segment.flags.contains(.executable) {
            let bytes = segment.fileBytes
            // Instructions are 4-byte aligned in the address space.
            var offset = Int((4 - segment.guestPhysicalAddress % 4) % 4)
            while offset + 4 <= bytes.count {
                let word = UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8
                    | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
                if word & 0xFFE0_001F == 0xD400_0002 {
                    sites[segment.guestPhysicalAddress + UInt64(offset)] = UInt16(truncatingIfNeeded: word >> 5)
                }
                offset += 4
            }
        }
        return sites
    }

    /// Starts `executable` with no input and its output in `outputPath`, and
    /// waits up to `timeoutSeconds` before killing it.
    private static func launch(
        _ executable: String, _ arguments: [String], outputPath: String, timeoutSeconds: Double
    ) throws -> QEMUExitReason {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        guard let output = FileHandle(forWritingAtPath: outputPath) else {
            throw QEMURunnerError.temporaryFiles(outputPath)
        }
        defer { try? output.close() }
        process.standardOutput = output
        process.standardError = output
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do {
            try process.run()
        } catch {
            throw QEMURunnerError.launchFailed(executable, "\(error)")
        }
        if finished.wait(timeout: .now() + timeoutSeconds) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            finished.wait()
            return .timedOut
        }
        switch process.terminationReason {
        case .exit: return .exited(process.terminationStatus)
        case .uncaughtSignal: return .signalled(process.terminationStatus)
        @unknown default: return .exited(process.terminationStatus)
        }
    }

    /// Runs a short command and returns its standard output.
    private static func runToCompletion(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// What one QEMU run did.
struct QEMURun: Sendable, CustomStringConvertible {
    /// Everything the guest wrote to the PL011, byte for byte.
    let uart: String
    /// Each HVC the guest executed, in order, with X0…X7 before it ran
    /// (empty unless the run was traced).
    let hvcCalls: [HVCCall]
    /// The logged CPU states, in order, when the run traced every
    /// instruction; empty otherwise.
    let states: [QEMUCPUState]
    /// Why QEMU stopped.
    let exitReason: QEMUExitReason
    /// QEMU's own standard output and error (warnings, errors): not the guest's.
    let qemuOutput: String
    /// Where the raw `-d cpu` log was kept (`keepTraceAt`), or nil if it was deleted.
    let tracePath: String?
    /// The command that ran, for messages.
    let commandLine: String
    let elapsedSeconds: Double

    /// The UART output split into lines without their "\n"; a last line the
    /// guest did not end is included as it is.
    var uartLines: [String] {
        var lines = uart.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    /// QEMU's exit status if it exited by itself (0 after SYSTEM_OFF), else nil.
    var exitStatus: Int32? {
        if case .exited(let status) = exitReason { return status }
        return nil
    }

    var description: String {
        """
        QEMU run (\(exitReason), \(String(format: "%.2f", elapsedSeconds)) s): \(commandLine)
        UART:
        \(uart.isEmpty ? "(nothing)" : uart)
        HVC calls: \(hvcCalls.isEmpty ? "none" : hvcCalls.map(\.description).joined(separator: "; "))
        QEMU output: \(qemuOutput.isEmpty ? "(nothing)" : qemuOutput)
        """
    }
}

/// Why a QEMU run ended.
enum QEMUExitReason: Equatable, Sendable, CustomStringConvertible {
    /// QEMU exited by itself with this status: 0 after the guest's PSCI
    /// SYSTEM_OFF (or SYSTEM_RESET, because of `-no-reboot`).
    case exited(Int32)
    /// QEMU died from a signal the runner did not send.
    case signalled(Int32)
    /// QEMU was still running at the timeout and the runner killed it.
    case timedOut

    var description: String {
        switch self {
        case .exited(let status): "exited with status \(status)"
        case .signalled(let signal): "killed by signal \(signal)"
        case .timedOut: "timed out and killed"
        }
    }
}

/// One HVC the guest executed under QEMU.
struct HVCCall: Equatable, Sendable, CustomStringConvertible {
    /// The HVC's address.
    let pc: UInt64
    /// Its imm16 (pKVM and PSCI use 0).
    let immediate: UInt16
    /// X0…X7 just before the HVC executed: X0 is the SMCCC function id.
    let x: [UInt64]
    /// The whole register state just before the HVC (X0–X30, SP, PSTATE).
    var state = QEMUCPUState()

    var x0: UInt64 { x[0] }

    var description: String {
        let registers = x.enumerated().map { "x\($0.offset)=0x\(String($0.element, radix: 16))" }
        return "hvc #\(immediate) at 0x\(String(pc, radix: 16)): " + registers.joined(separator: " ")
    }
}

/// The state QEMU logs before an instruction with `-d cpu`.
struct QEMUCPUState: Equatable, Sendable {
    var pc: UInt64 = 0
    /// X0…X30.
    var x: [UInt64] = Array(repeating: 0, count: 31)
    /// The current stack pointer (QEMU prints the one in use).
    var sp: UInt64 = 0
    /// PSTATE as QEMU prints it (NZCV, DAIF, EL and SP selection).
    var pstate: UInt64 = 0
}

/// Reads QEMU's aarch64 `-d cpu` log (QEMU 7.2 format and later):
///
///      PC=0000000040080000 X00=0000000000000000 X01=0000000000000000
///     X02=... X03=... X04=...
///     ...
///     X29=0000000000000000 X30=0000000000000000  SP=0000000000000000
///     PSTATE=400003c5 -Z-- EL1h  SVCR=00000000 --  BTYPE=0
///
/// Each `PC=` starts a state; `Xnn=`, `SP=` and `PSTATE=` fill it; every
/// other token is ignored, so lines QEMU adds in other versions (FPCR, SVE
/// state) do no harm.
enum QEMUTraceParser {
    static func states(in log: [UInt8]) -> [QEMUCPUState] {
        var states: [QEMUCPUState] = []
        var current: QEMUCPUState?
        log.withUnsafeBufferPointer { bytes in
            let count = bytes.count
            var index = 0
            while index < count {
                // Skip white space, then read a token up to '=' or white space.
                while index < count, isSpace(bytes[index]) { index += 1 }
                let nameStart = index
                while index < count, !isSpace(bytes[index]), bytes[index] != UInt8(ascii: "=") { index += 1 }
                guard index < count, bytes[index] == UInt8(ascii: "=") else { continue }
                let nameEnd = index
                index += 1
                var value: UInt64 = 0
                while index < count, let digit = hexValue(bytes[index]) {
                    value = value << 4 | UInt64(digit)
                    index += 1
                }
                switch nameEnd - nameStart {
                case 2 where bytes[nameStart] == UInt8(ascii: "P") && bytes[nameStart + 1] == UInt8(ascii: "C"):
                    if let finished = current { states.append(finished) }
                    current = QEMUCPUState(pc: value)
                case 2 where bytes[nameStart] == UInt8(ascii: "S") && bytes[nameStart + 1] == UInt8(ascii: "P"):
                    current?.sp = value
                case 3 where bytes[nameStart] == UInt8(ascii: "X"):
                    if let tens = decimalValue(bytes[nameStart + 1]), let ones = decimalValue(bytes[nameStart + 2]) {
                        let register = tens * 10 + ones
                        if register < 31 { current?.x[register] = value }
                    }
                case 6 where matches(bytes, at: nameStart, "PSTATE"):
                    current?.pstate = value
                default:
                    break
                }
            }
        }
        if let finished = current { states.append(finished) }
        return states
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x09 || byte == 0x0D
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func decimalValue(_ byte: UInt8) -> Int? {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? Int(byte - UInt8(ascii: "0")) : nil
    }

    private static func matches(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int, _ name: StaticString) -> Bool {
        name.withUTF8Buffer { expected in
            expected.indices.allSatisfy { bytes[start + $0] == expected[$0] }
        }
    }
}

/// Why a QEMU run could not start.
enum QEMURunnerError: Error, CustomStringConvertible {
    case notInstalled
    case badImage(ELFError)
    case temporaryFiles(String)
    case launchFailed(String, String)

    var description: String {
        switch self {
        case .notInstalled:
            "qemu-system-aarch64 is not on PATH, but \(QEMURunner.requireVariable)=1 says this machine must run the QEMU tests; install Debian's qemu-system-arm (.ci/run does) or unset \(QEMURunner.requireVariable)."
        case .badImage(let error):
            "The guest given to QEMU is not a usable aarch64 ELF: \(error)"
        case .temporaryFiles(let path):
            "Could not create the QEMU run's temporary files at \(path); check that the temporary directory is writable."
        case .launchFailed(let executable, let reason):
            "Could not start \(executable): \(reason)."
        }
    }
}
