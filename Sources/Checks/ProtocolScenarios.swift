import GuestImage
import Lifecycle
import PKVMModel

/// Share/unshare protocol: every request the demo guest makes, right and
/// wrong, gets pKVM's answer and leaves the ledger as pKVM would.
enum ProtocolScenarios {
    static var all: [Scenario] {
        [
            Scenario("protocol.demo-requests", on: [.kvm, .model],
                     "the demo guest's shares, unshares and wrong requests (unaligned, outside RAM, double share, unshare of private) get pKVM's answers; ledger and hypervisor agree; nothing stays shared") { context in
                demoRequests(context)
            },
            Scenario("protocol.demo-doorbell", on: [.model],
                     "the same demo requests over the MMIO doorbell (arm64 KVM without the SMCCC filter) get the same answers, and every one came through the doorbell") { context in
                let doorbell = context.derived { () throws(LifecycleError) -> Platform in
                    PKVMModelPlatform(configuration: ModelConfiguration(guestTransport: .mmioDoorbell))
                }
                let outcome = demoRequests(doorbell, transport: "mmio doorbell")
                for note in doorbell.takeNotes() { context.note(note) }
                return outcome
            },
            Scenario("protocol.share-of-mmio", on: [.model],
                     "MEM_SHARE of the UART's IPA (MMIO, not RAM) is refused with INVALID_PARAMETER and changes nothing") { context in
                shareOfMMIO(context)
            },
        ]
    }

    /// (operation, result) of each request the built-in demo makes, in order.
    /// On arm64-pkvm EL2 answers every call itself and only the guest's
    /// SHARED/UNSHARED reports of the calls that worked reach the ledger; the
    /// four refusals show in the guest's own checks 4–7 instead.
    static func expectedRequests(_ context: CheckContext) -> [String] {
        let guest = LifecycleProbe.guest(for: context.guestABI)
        if context.isProtectedKVM {
            return ["share ok", "unshare ok", "share ok", "unshare ok"]
        }
        if guest.architecture == .aarch64 {
            return ["share ok", "unshare ok", "share rejected", "share rejected", "unshare rejected",
                    "share ok", "share rejected", "unshare ok"]
        }
        return ["share ok", "unshare ok", "share rejected", "unshare rejected", "share rejected",
                "share ok", "share rejected", "unshare ok"]
    }

    /// `transport`: the transport every request must have come through.
    static func demoRequests(_ context: CheckContext, transport: String? = nil) -> CheckOutcome {
        let run: MeasuredRun
        do { run = try LifecycleProbe.run(context, plan: .safe, memory: 4 << 20) } catch { return .skip("\(error)") }
        var failures: [String] = []
        let requests = run.journal.events.filter { $0.name == "share" || $0.name == "unshare" }.map { event in
            "\(event.name) \(event["result"].map { if case .string(let s) = $0 { s } else { "?" } } ?? "?")"
        }
        let expected = expectedRequests(context)
        if requests != expected { failures.append("requests went \(requests), expected \(expected)") }
        if let transport {
            let others = run.journal.events.filter { ($0.name == "share" || $0.name == "unshare") && $0["transport"] != .string(transport) }
            if !others.isEmpty { failures.append("\(others.count) requests did not come through the \(transport)") }
        }
        for check in run.report.checks where !check.passed {
            failures.append("guest check \(check.id) got \(check.value), not what pKVM answers")
        }
        if run.report.guestStatus != 0 { failures.append("the guest reported status \(run.report.guestStatus.map(String.init) ?? "none")") }
        if let ran = run.report.phases.first(where: { $0.0 == "ran" })?.1, ran.shared != 0 {
            failures.append("\(ran.shared) pages still shared when the guest stopped; the demo unshares all it shares")
        }
        failures += run.report.violations.map(\.description)
        return failures.isEmpty ? .pass : .fail(failures.joined(separator: "; "))
    }

    /// MEM_SHARE(0x09000000) → X0; DONE(X0 == -3 ? 0 : 1); SYSTEM_OFF.
    static let shareUARTWords: [UInt32] = [
        0xD2B8C000, 0xF2800060, 0xD2A12001, 0xD2800002, 0xD2800003, 0xD4000002, 0x92800041, 0xEB01001F,
        0x9A9F07E6, 0xD2A14005, 0xF287C005, 0xF90004A6, 0xD2800067, 0xF90000A7, 0xD2B08000, 0xF2800100,
        0xD4000002, 0xD503207F, 0x17FFFFFF,
    ]

    static func shareOfMMIO(_ context: CheckContext) -> CheckOutcome {
        let image: ELFImage
        do {
            image = try ELFImage(bytes: InlineImage.elf(machine: 183, words: shareUARTWords, address: ARM64GuestProtocol.imageBase))
        } catch {
            return .fail("the inline test image is invalid: \(error)")
        }
        let run: MeasuredRun
        do { run = try LifecycleProbe.run(context, plan: .safe, image: image, memory: 4 << 20) } catch { return .skip("\(error)") }
        var failures: [String] = []
        if run.report.guestStatus != 0 { failures.append("MEM_SHARE of MMIO did not return INVALID_PARAMETER (-3) to the guest") }
        let share = run.journal.events(named: "share")
        if share.count != 1 || share.first?["result"] != .string("rejected") {
            failures.append("the ledger did not record exactly one rejected share (saw \(share.map { $0.jsonLine }))")
        }
        failures += run.report.violations.map(\.description)
        return failures.isEmpty ? .pass : .fail(failures.joined(separator: "; "))
    }
}

/// A tiny ELF64 executable around instruction words, for scenario guests.
enum InlineImage {
    static func elf(machine: UInt16, words: [UInt32], address: UInt64) -> [UInt8] {
        let code = words.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
        var bytes: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        func put<T: FixedWidthInteger>(_ value: T) { bytes += withUnsafeBytes(of: value.littleEndian, Array.init) }
        put(UInt16(2)); put(machine); put(UInt32(1))
        put(address); put(UInt64(64)); put(UInt64(0))
        put(UInt32(0)); put(UInt16(64)); put(UInt16(56)); put(UInt16(1)); put(UInt16(64)); put(UInt16(0)); put(UInt16(0))
        put(UInt32(1)); put(UInt32(5)); put(UInt64(0x1000)); put(address); put(address)
        put(UInt64(code.count)); put(UInt64(code.count)); put(UInt64(0x1000))
        bytes += [UInt8](repeating: 0, count: 0x1000 - bytes.count)
        return bytes + code
    }
}
