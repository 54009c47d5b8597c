import Foundation
@testable import Checks
import Lifecycle
import PKVMModel
import Platforms
import PVMHTestSupport
import Testing

@Suite("KTAP output")
struct KTAPTests {
    @Test func linesFollowKTAPVersion1() {
        var lines: [String] = []
        var writer = KTAPWriter { lines.append($0) }
        writer.begin(count: 3)
        writer.result("a", .pass)
        writer.diagnostic("measured\nsomething")
        writer.result("b", .fail("it broke\nbadly"))
        writer.result("c", .skip("needs KVM_X86_SW_PROTECTED_VM"))
        writer.finish()
        #expect(lines == [
            "KTAP version 1", "1..3", "ok 1 a", "# measured", "# something",
            "not ok 2 b # it broke; badly", "ok 3 c # SKIP needs KVM_X86_SW_PROTECTED_VM",
            "# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:1 error:0",
        ])
    }

    @Test("glob filters", arguments: [
        ("teardown.*", "teardown.safe-order", true),
        ("*[kvm]", "gmem.distinct-files[kvm]", true),
        ("gmem.*[model]", "gmem.distinct-files[kvm]", false),
        ("soak.lifecycle?", "soak.lifecycles", true),
        ("*", "", true),
        ("a*b*c", "axxbyyc", true),
        ("a*b*c", "axxbyy", false),
    ])
    func glob(_ pattern: String, _ text: String, _ matches: Bool) {
        #expect(globMatches(pattern, text) == matches)
    }
}

@Suite("The regression catalogue")
struct CatalogueTests {
    @Test func everyScenarioHasAUniqueNameAPlatformAndASummary() {
        let scenarios = CheckCatalogue.scenarios(repeatCount: 10)
        #expect(Set(scenarios.map(\.name)).count == scenarios.count)
        #expect(scenarios.allSatisfy { !$0.platforms.isEmpty && !$0.summary.isEmpty && !$0.name.contains(" ") })
        let names = Set(scenarios.map(\.name))
        for required in ["teardown.safe-order", "teardown.unbind-before-reclaim", "teardown.close-gmem-before-memslot",
                         "teardown.close-vm-first", "teardown.munmap-first", "teardown.exit-without-teardown",
                         "teardown.delete-memslot-while-running", "teardown.kernel-unbind-before-reclaim", "kill-during-run",
                         "gmem.unaligned-size-einval", "gmem.unsupported-flag-einval", "gmem.read-write-fail",
                         "gmem.map-private-fails", "gmem.fault-past-eof-sigbus", "gmem.punch-hole-zeroes-exact-pages",
                         "gmem.distinct-files", "gmem.overlapping-gpa-eexist", "gmem.other-vm-einval",
                         "protocol.demo-requests", "protocol.share-of-mmio", "soak.lifecycles"] {
            #expect(names.contains(required), "missing scenario \(required)")
        }
    }

    @Test func selectionHonoursPlatformAndFilter() {
        let model = CheckCatalogue.selection(platforms: [.model], filter: nil, repeatCount: 1)
        #expect(model.allSatisfy { $0.0.platforms.contains(.model) && $0.1 == .model })
        let filtered = CheckCatalogue.selection(platforms: [.kvm, .model], filter: "teardown.safe-order", repeatCount: 1)
        #expect(filtered.map(\.1) == [.kvm, .model])
        #expect(CheckCatalogue.selection(platforms: [.model], filter: "gmem.*", repeatCount: 1).isEmpty)
    }
}

/// The suite must be able to fail: broken orders are caught.
@Suite("Checks fail when the order is broken")
struct BrokenOrderTests {
    static func modelContext() -> CheckContext {
        let context = CheckContext(platform: .model, seed: 1, executable: nil) { () throws(LifecycleError) -> Platform in PKVMModelPlatform() }
        context.processIsExclusive = false  // other suites run VMs in this process
        return context
    }

    @Test func theSafeOrderScenarioPassesOnTheModel() {
        #expect(TeardownScenarios.safeOrder(Self.modelContext()) == .pass)
    }

    @Test func aBrokenSafePlanFailsTheSafeOrderScenario() throws {
        let broken = try TeardownPlan(steps: [.stopVCPUs, .unbind, .reclaim, .release, .destroy])
        guard case .fail(let why) = TeardownScenarios.safeOrder(Self.modelContext(), plan: broken) else {
            Issue.record("an unsafe plan passed the safe-order check")
            return
        }
        #expect(why.contains("unbind before reclaim"))
    }

    @Test func theBrokenKernelOrderIsCaughtOnTheModel() {
        let context = Self.modelContext()
        #expect(TeardownScenarios.kernelUnbindBeforeReclaim(context) == .pass)
        #expect(context.takeNotes().contains { $0.contains("caught as expected: host fault") })
    }

    @Test func theWholeModelSuitePassesAndPrintsValidKTAP() {
        var lines: [String] = []
        var options = CheckOptions(platforms: [.model], repeatCount: 3, seed: 7)
        options.processIsExclusive = false
        let totals = CheckRunner.run(options) { lines.append($0) }
        #expect(totals.failed == 0, "\(lines.joined(separator: "\n"))")
        #expect(lines.first == "KTAP version 1")
        #expect(lines.last == "# Totals: pass:\(totals.passed) fail:0 xfail:0 xpass:0 skip:\(totals.skipped) error:0")
        let results = lines.filter { $0.hasPrefix("ok ") || $0.hasPrefix("not ok ") }
        #expect(lines[1] == "1..\(results.count)")
        for (index, line) in results.enumerated() { #expect(line.hasPrefix("ok \(index + 1) ")) }
    }

    @Test("the header diagnostics come after the KTAP version line and the plan")
    func headerAfterPlan() {
        var lines: [String] = []
        var options = CheckOptions(targets: [.model], filter: "teardown.safe-order", repeatCount: 1, seed: 7)
        options.processIsExclusive = false
        options.header = ["pvmh check: seed 7, platforms model"]
        _ = CheckRunner.run(options) { lines.append($0) }
        #expect(Array(lines.prefix(3)) == ["KTAP version 1", "1..1", "# pvmh check: seed 7, platforms model"])
    }

    @Test("--platform all covers every available KVM platform, the first as [kvm], then the model")
    func allTargets() {
        var probe = HostProbe(architecture: "x86_64", kernelRelease: "test")
        probe.platforms = [
            .init(id: "x86_64-gmem", name: "x86_64 KVM + guest_memfd", available: true, reason: "ok", backend: .guestMemfd),
            .init(id: "x86_64-memfd", name: "x86_64 KVM + memfd", available: true, reason: "ok", backend: .memfd),
        ]
        probe.choose()
        let all = CheckCatalogue.targets(for: "all", probe: probe)
        #expect(all?.map(\.label) == ["kvm", "x86_64-memfd", "model"])
        #expect(all?.map(\.kvmPlatformID) == ["x86_64-gmem", "x86_64-memfd", nil])
        #expect(CheckCatalogue.targets(for: "x86_64-memfd", probe: probe)?.map(\.label) == ["x86_64-memfd"])
        #expect(CheckCatalogue.targets(for: "kvm", probe: probe)?.map(\.kvmPlatformID) == ["x86_64-gmem"])
        #expect(CheckCatalogue.targets(for: "nonsense", probe: probe) == nil)
        let names = CheckCatalogue.selection(targets: all ?? [], filter: "teardown.safe-order", repeatCount: 1).map { "\($0.0.name)[\($0.1.label)]" }
        #expect(names == ["teardown.safe-order[kvm]", "teardown.safe-order[x86_64-memfd]", "teardown.safe-order[model]"])
        probe.platforms[0].available = false
        probe.choose()
        #expect(CheckCatalogue.targets(for: "all", probe: probe)?.map(\.label) == ["kvm", "model"])
    }
}

/// The zeroed guest's words are what its source assembles to.
@Suite("the lane's zeroed guest matches its source")
struct ZeroedGuestSourceTests {
    @Test func assemblesToTheEmbeddedWords() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let source = repo.appendingPathComponent("Tests/pkvm-lane/guests/zeroed.S").path
        let object = FileManager.default.temporaryDirectory.appendingPathComponent("pvmh-zeroed-\(getpid()).o").path
        defer { try? FileManager.default.removeItem(atPath: object) }
        func run(_ tool: String, _ arguments: [String]) throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["bash", "-c", "d=$(dirname \"$(readlink -f \"$(command -v swiftc)\")\"); t=\"$d/\(tool)\"; [ -x \"$t\" ] || t=\(tool); exec \"$t\" \"$@\"", "run"] + arguments
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            try #require(process.terminationStatus == 0, "\(tool) \(arguments) failed")
            return text
        }
        _ = try run("clang", ["--target=aarch64-none-elf", "-c", source, "-o", object])
        let words = try run("llvm-objdump", ["-d", object]).split(separator: "\n").compactMap { line -> UInt32? in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count > 1, fields[0].hasSuffix(":"), fields[0].dropLast().allSatisfy(\.isHexDigit) else { return nil }
            return UInt32(fields[1], radix: 16)
        }
        #expect(words == ARM64Scenarios.zeroedWords, "paste llvm-objdump's words into ARM64Scenarios.zeroedWords")
    }
}
