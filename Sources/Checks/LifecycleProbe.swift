import GuestImage
import Glibc
import Lifecycle

/// One lifecycle run under a teardown plan, with everything measured around
/// it that a teardown verdict needs: kernel log, memory, fds.
struct MeasuredRun {
    var report: RunReport
    var journal: Journal
    /// The guest RAM the run had.
    var memory: UInt64
    var kernelProblems: [String]
    var kernelLogNote: String?
    var memoryDropBytes: Int64?
    var leakedDescriptors: [String]
    /// Guest memory the kernel accounted while the guest ran (above baseline).
    var heldDuringRunBytes: Int64?
    /// arm64-pkvm only: pages pinned (above baseline) once the guest had run,
    /// and still pinned after teardown.
    var pinnedDuringRun: Int64?
    var pinnedAfterTeardown: Int64?
}

enum LifecycleProbe {
    static let memoryTolerance: Int64 = 4 << 20

    /// A guest that spins forever at its entry point, for scenarios that
    /// kill or disturb a running vCPU: `jmp .` at 0x100000 on x86_64, `b .`
    /// at the image base on arm64.
    /// A guest that never stops, for the platform's architecture.
    static func spinImage(for abi: GuestABI) throws(LifecycleError) -> ELFImage {
        do {
            if abi.architecture == .aarch64 {
                return try ELFImage(bytes: InlineImage.elf(machine: 183, words: [0x1400_0000], address: ARM64GuestProtocol.imageBase))
            }
            return try ELFImage(bytes: InlineImage.elfBytes(machine: 62, code: [0xEB, 0xFE], address: 0x100000))
        } catch {
            throw .badInput("the inline spin image is invalid: \(error)")
        }
    }

    /// The platform's demo guest.
    static func guest(for abi: GuestABI) -> BuiltinGuest {
        BuiltinGuest.named(abi.defaultGuest)!
    }

    /// Runs `image` (default: the platform's demo) with `plan` on `vcpus`,
    /// measuring around it. `onEvent` sees every event with the lifecycle
    /// (to stop it at a moment of its choosing).
    static func run(_ context: CheckContext, plan: TeardownPlan, image: ELFImage? = nil, guestName: String? = nil,
                    memory: UInt64 = 64 << 20, vcpus: Int = 1, timeout: Double = 20,
                    onEvent: (@Sendable (LifecycleEvent, ProtectedVMLifecycle) -> Void)? = nil) throws(LifecycleError) -> MeasuredRun {
        let watch = KernelLogWatch()
        watch.start()
        let counter = context.memoryCounter
        let before = MemoryAccounting.held(counter)
        let pinsBefore = context.isProtectedKVM ? PinnedPages.current() : nil
        let baseline = FileDescriptorAudit.openKVMDescriptors()
        let platform = try context.makePlatform()
        let journal = try Journal()
        let sample = HeldSample()
        let pinned = HeldSample()
        let recorder = context.traces?.newRun()
        let box = LockedValue<ProtectedVMLifecycle>()
        let lifecycle = ProtectedVMLifecycle(
            platform: platform, journal: journal,
            options: RunOptions(ram: context.guestABI.ram(size: memory), vcpus: vcpus, timeoutSeconds: timeout, plan: plan,
                                auditDescriptors: false, verificationSeed: context.seed),
            guestName: guestName ?? guest(for: context.guestABI).name) { notice in
                recorder?.record(notice)
                if let onEvent, let lifecycle = box.get() { onEvent(notice, lifecycle) }
                // Sampled once the guest runs: its memory must be visible.
                if case .phase(.run) = notice, let before, let now = MemoryAccounting.held(counter) {
                    sample.set(Int64(now) - Int64(before))
                }
                // pKVM pins a page when the guest first touches it, so the
                // pins are sampled once the guest has run, before teardown.
                if case .phase(.teardown) = notice, let pinsBefore, let now = PinnedPages.current() {
                    pinned.set(now - pinsBefore)
                }
            }
        box.set(lifecycle)
        let chosen: ELFImage
        if let image {
            chosen = image
        } else {
            do { chosen = try guest(for: context.guestABI).image() } catch { throw .badInput("\(error)") }
        }
        let report = lifecycle.run(image: chosen)
        let drop = before.map { MemoryAccounting.waitForReturn(to: $0, tolerance: memoryTolerance, counter: counter).shortfall }
        let pinsAfter = pinsBefore.map { PinnedPages.waitForReturn(to: $0) }
        return MeasuredRun(report: report, journal: journal, memory: memory, kernelProblems: watch.newProblems(),
                           kernelLogNote: watch.unavailableReason, memoryDropBytes: drop,
                           leakedDescriptors: FileDescriptorAudit.leaked(since: baseline), heldDuringRunBytes: sample.get(),
                           pinnedDuringRun: pinned.get(), pinnedAfterTeardown: pinsAfter)
    }
}

/// The verdict rules every teardown scenario shares (Docs/checks.md).
struct TeardownVerdict {
    var failures: [String] = []

    /// Kernel healthy, memory back within tolerance, no fd left.
    mutating func host(_ run: MeasuredRun, _ context: CheckContext) {
        if !run.kernelProblems.isEmpty {
            failures.append("the kernel logged: \(run.kernelProblems.prefix(3).joined(separator: " | "))")
        }
        if let note = run.kernelLogNote { context.note(note) }
        if context.platform == .kvm {
            failures += MemoryReturn.held(run.heldDuringRunBytes ?? 0, of: run.memory, context.memoryCounter, by: "while the guest ran", context)
        }
        failures += MemoryReturn.returned(run.memoryDropBytes, context.memoryCounter, after: "the run", context)
        failures += MemoryReturn.unpinned(run.pinnedAfterTeardown, during: run.pinnedDuringRun, after: "teardown", context)
        if !context.processIsExclusive {
            context.note("fd audit skipped: other VMs share this process")
        } else if !run.leakedDescriptors.isEmpty {
            failures.append("fds left open: \(run.leakedDescriptors.joined(separator: ", "))")
        }
        if !run.report.platformResourcesReleased {
            failures.append("the platform still holds resources after teardown")
        }
    }

    /// Private pages faulted for the host before reclaim and read zero after.
    mutating func isolation(_ run: MeasuredRun) {
        let probes = run.report.isolationProbes
        if probes.isEmpty { failures.append("no private page was probed before reclaim") }
        for probe in probes {
            if case .faulted = probe.access { continue }
            // A call in flight when its vCPU was stopped (pKVM), named by the run.
            if run.report.ledgerLagPages.contains(probe.gfn) { continue }
            failures.append("the host could read private gfn \(probe.gfn) before reclaim (\(probe.access))")
        }
        if run.report.verifiedZeroPages == 0 { failures.append("no reclaimed page was verified to read zero") }
        failures += run.report.violations.filter(\.isIsolationBreach).map(\.description)
    }

    mutating func guestFinished(_ run: MeasuredRun) {
        if run.report.guestStatus != 0 { failures.append("the guest did not finish cleanly (status \(run.report.guestStatus.map(String.init) ?? "none"))") }
        for check in run.report.checks where !check.passed { failures.append("guest check \(check.id) failed") }
    }

    var outcome: CheckOutcome { failures.isEmpty ? .pass : .fail(failures.joined(separator: "; ")) }
}

extension RunReport {
    /// No "platform still holds" violation.
    var platformResourcesReleased: Bool {
        !violations.contains { if case .resourcesHeld = $0 { true } else { false } }
    }
}

/// A value set from an event callback.
typealias HeldSample = LockedValue<Int64>
