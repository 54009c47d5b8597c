import GuestImage
import Lifecycle
import PKVMModel
import PVMHTestSupport
import Testing

/// `--firmware FILE` end to end on the model as Android's pKVM: the file is
/// placed at the top 4 MiB of guest RAM and vCPU 0 starts there with pvmfw's
/// boot registers, exactly as the arm64-pkvm platform does on a device
/// (`FirmwareRegion`), and the firmware hands over to the payload.
@Suite("a firmware file on the model as Android's pKVM")
struct ModelFirmwareTests {
    static let firmware = FirmwareChoice.file(path: "arm64-fwboot.bin", bytes: a64(TestGuests.firmwareBoot))

    func run(_ configuration: ModelConfiguration, memory: UInt64 = 8 << 20) throws -> (RunReport, Journal) {
        try runKeepingPlatform(configuration, memory: memory).0
    }

    func runKeepingPlatform(_ configuration: ModelConfiguration, memory: UInt64 = 8 << 20) throws -> ((RunReport, Journal), PKVMModelPlatform) {
        let demo = try #require(BuiltinGuest.named("arm64-demo"))
        let journal = try Journal()
        let platform = PKVMModelPlatform(configuration: configuration)
        let lifecycle = ProtectedVMLifecycle(platform: platform, journal: journal,
                                             options: RunOptions(ram: GuestRAM(base: ARM64GuestProtocol.ramBase, size: memory), timeoutSeconds: 20,
                                                                 auditDescriptors: false),
                                             guestName: demo.name)
        return ((lifecycle.run(image: try demo.image()), journal), platform)
    }

    @Test("the firmware runs first at the top of RAM, then the demo through X1, all 22 checks pass")
    func firmwareThenDemo() throws {
        let (report, journal) = try run(ModelConfiguration(flavour: .android, firmware: Self.firmware))
        #expect(report.passed, "\(report.failures)")
        #expect(report.consoleLines.first == "pvmh test firmware: starting the payload")
        #expect(report.consoleLines.dropFirst().first == "pvmh arm64 demo guest: booted at EL1")
        #expect(report.checks.count == 22 && report.checks.allSatisfy(\.passed))
        let load = try #require(journal.events(named: "load.firmware").first)
        #expect(load["ipa"] == .uint(0x4000_0000 + (8 << 20) - (4 << 20)))
        #expect(load["payload_entry"] == .uint(ARM64GuestProtocol.imageBase))
        #expect(load["bytes"] == .int(Int64(TestGuests.firmwareBoot.count * 4)))
        // The firmware's pages are guest RAM: private, and zero after reclaim.
        #expect(report.verifiedZeroPages == 2047, "all of RAM but the page the demo gave back")
    }

    @Test("a payload reaching into the firmware region, an upstream model, and the device's pvmfw are refused in one sentence")
    func refusals() throws {
        let ((small, _), smallPlatform) = try runKeepingPlatform(ModelConfiguration(flavour: .android, firmware: Self.firmware), memory: 4 << 20)
        #expect(small.error?.description.contains("past the firmware region at 0x40000000") == true, "\(String(describing: small.error))")
        let ((upstream, _), upstreamPlatform) = try runKeepingPlatform(ModelConfiguration(firmware: Self.firmware))
        #expect(upstream.error?.description == "--firmware needs Android's pKVM, and the model is upstream's; add --model-pkvm android")
        let ((device, _), devicePlatform) = try runKeepingPlatform(ModelConfiguration(flavour: .android, firmware: .device))
        #expect(device.error?.description.contains("the model has no device pvmfw") == true)
        for (report, platform) in [(small, smallPlatform), (upstream, upstreamPlatform), (device, devicePlatform)] {
            #expect(!report.passed)
            #expect(platform.openResources.isEmpty, "nothing left after the refusal: \(platform.openResources)")
            #expect(report.teardown.allSatisfy { $0.error == nil }, "\(report.teardown)")
        }
    }
}

/// Android's balloon pattern on the model: a page given back and touched
/// again is donated back by EL2 on the fault, and the ledger follows.
@Suite("a relinquished page touched again, on the model as Android's pKVM")
struct ModelRedonationTests {
    @Test("the write faults, EL2 donates the page back, the word reads back, the ledger and the zero check follow")
    func relinquishThenTouch() throws {
        let image = try ELFImage(bytes: makeELF(machine: .aarch64, code: a64(TestGuests.relinquishThenTouch), address: ARM64GuestProtocol.imageBase))
        let journal = try Journal()
        let platform = PKVMModelPlatform(configuration: ModelConfiguration(flavour: .android))
        let lifecycle = ProtectedVMLifecycle(platform: platform, journal: journal,
                                             options: RunOptions(ram: GuestRAM(base: ARM64GuestProtocol.ramBase, size: 4 << 20), timeoutSeconds: 20,
                                                                 auditDescriptors: false),
                                             guestName: "arm64-retouch")
        let report = lifecycle.run(image: image)
        #expect(report.passed, "\(report.failures)")
        #expect(report.checks.map(\.id) == [1, 2] && report.checks.allSatisfy(\.passed), "\(report.checks)")
        #expect(journal.events(named: "relinquish").map { $0["result"] } == [.string("ok")])
        #expect(journal.events(named: "donate").map { $0["gfn"] } == [.uint(0x40100)])
        #expect(journal.events(named: "donate").first?["transport"] == .string("stage-2 fault"))
        #expect(journal.events(named: "model.donated").count == 1)
        #expect(report.relinquishedZeroPages == 1, "the secret was gone when the host read the page")
        #expect(report.phases.first { $0.0 == "ran" }?.1.host == 0, "the page is the guest's again")
        #expect(report.verifiedZeroPages == 1024, "and reclaim's zero check covers it with the rest")
        #expect(platform.findings.isEmpty)
    }
}
