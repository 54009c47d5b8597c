import Glibc
import GuestImage
import KVM
import Lifecycle
import System
import Platforms

/// Scenarios where the VMM does not get to tear down: it exits, is killed,
/// or has its memory pulled from under a running vCPU.
enum ProcessScenarios {
    static var all: [Scenario] {
        [
            Scenario("teardown.exit-without-teardown", on: [.kvm],
                     "a child VMM boots the demo with 64 MiB of allocated guest memory and exits without any teardown: the kernel must clean up (healthy, memory back)") { context in
                exitWithoutTeardown(context)
            },
            Scenario("teardown.delete-memslot-while-running", on: [.kvm],
                     "the memslot is deleted while a vCPU runs: the vCPU must exit (MMIO, memory fault or internal error, as the kernel documents), not hang; on arm64 it must stop when asked, and a protected VM's memslot must not be deletable at all (EPERM)") { context in
                deleteMemslotWhileRunning(context)
            },
            Scenario("kill-during-run", on: [.kvm],
                     "a child VMM with a running vCPU is SIGKILLed at a seeded random point (3 times): kernel healthy, memory back") { context in
                killDuringRun(context)
            },
        ]
    }

    static let childMemory = "64M"

    /// The baseline of the block being measured, and its counter (set by `measured`).
    nonisolated(unsafe) static var baseline: UInt64?
    nonisolated(unsafe) static var counter = MemoryCounter.unevictable

    static func heldAboveBaseline() -> Int64? {
        guard let baseline, let now = MemoryAccounting.held(counter) else { return nil }
        return Int64(now) - Int64(baseline)
    }

    /// The child's guest memory must have shown while it ran, or its return proves nothing.
    static func requireHeld(_ held: Int64?, of size: UInt64 = 64 << 20, _ context: CheckContext) -> [String] {
        MemoryReturn.held(held, of: size, counter, by: "by the child VMM", context)
    }

    /// Kernel health and memory across a block that ends child VMMs (and,
    /// on arm64-pkvm, the pages pKVM pinned for them).
    static func measured(_ context: CheckContext, _ body: () -> [String]) -> CheckOutcome {
        let watch = KernelLogWatch()
        watch.start()
        counter = context.memoryCounter
        let before = MemoryAccounting.held(counter)
        let pinsBefore = context.isProtectedKVM ? PinnedPages.current() : nil
        baseline = before
        var failures = body()
        failures += watch.newProblems().prefix(3).map { "the kernel logged: \($0)" }
        if let note = watch.unavailableReason { context.note(note) }
        // The kernel finishes freeing a dead VMM's memory asynchronously.
        let drop = before.map { MemoryAccounting.waitForReturn(to: $0, tolerance: LifecycleProbe.memoryTolerance, counter: counter).shortfall }
        failures += MemoryReturn.returned(drop, counter, after: "the child VMMs ended", context)
        failures += MemoryReturn.unpinned(pinsBefore.map { PinnedPages.waitForReturn(to: $0) }, after: "the child VMMs ended", context)
        return failures.isEmpty ? .pass : .fail(failures.joined(separator: "; "))
    }

    static func exitWithoutTeardown(_ context: CheckContext) -> CheckOutcome {
        guard let executable = context.executable else { return .skip("needs the pvmh executable to start a child VMM") }
        return measured(context) {
            let child: ChildProcess
            do { child = try ChildProcess(executable, ["_child", "exit-without-teardown", childMemory] + (context.kvmPlatformID.map { [$0] } ?? []),
                                                   environment: childEnvironment) } catch { return ["\(error)"] }
            let booted = child.waitForOutput("guest halted", seconds: 20)
            let held = heldAboveBaseline()
            let end = child.wait(seconds: 20)
            var failures: [String] = []
            failures += requireHeld(held, context)
            if !booted { failures.append("the child VMM never ran its guest (output: \(child.output.suffix(200)))") }
            if end.exitCode != 0 { failures.append("the child VMM ended with \(end.exitCode.map { "exit \($0)" } ?? "signal \(end.signal ?? 0)")") }
            return failures
        }
    }

    /// A child VMM gets a minimal environment: nothing of the suite's own
    /// (PVMH_* variables, a test runner's settings) leaks into it.
    static let childEnvironment = ["PATH=/usr/bin:/bin"]

    static func killDuringRun(_ context: CheckContext) -> CheckOutcome {
        guard let executable = context.executable else { return .skip("needs the pvmh executable to start a child VMM") }
        return measured(context) {
            var failures: [String] = []
            for round in 1...3 {
                let delayMicroseconds = context.nextRandom(below: 300_000)
                let child: ChildProcess
                do { child = try ChildProcess(executable, ["_child", "spin", childMemory] + (context.kvmPlatformID.map { [$0] } ?? []),
                                                   environment: childEnvironment) } catch { return ["\(error)"] }
                guard child.waitForOutput("guest running", seconds: 20) else {
                    failures.append("round \(round): the child VMM did not start its guest (\(child.output.suffix(200)))")
                    continue
                }
                usleep(UInt32(delayMicroseconds))
                if round == 1 { failures += requireHeld(heldAboveBaseline(), context) }
                kill(child.pid, SIGKILL)
                let end = child.wait(seconds: 10)
                context.note("round \(round): SIGKILL \(delayMicroseconds / 1000) ms into the run (seed \(context.seed))")
                if end.signal != SIGKILL { failures.append("round \(round): the child ended with \(end.exitCode.map { "exit \($0)" } ?? "signal \(end.signal ?? 0)"), not SIGKILL") }
            }
            return failures
        }
    }

    static func deleteMemslotWhileRunning(_ context: CheckContext) -> CheckOutcome {
        let platform: Platform
        do { platform = try context.makePlatform() } catch { return .skip("\(error)") }
        let journal: Journal
        do { journal = try Journal() } catch { return .fail("\(error)") }
        let watch = KernelLogWatch()
        watch.start()
        do {
            let ram = context.guestABI.ram(size: 4 << 20)
            try platform.create(ram: ram, journal: journal)
            _ = try platform.makeAllPrivate(ram)
            let image = try LifecycleProbe.spinImage(for: context.guestABI)
            try platform.load(image)
            try platform.createVCPUs(count: 1, entry: image.entry)
        } catch {
            return .fail("setting up the VM failed: \(error)")
        }
        let box = EventBox()
        let thread: VCPUThread
        do {
            thread = try VCPUThread(index: 0) { box.set(platform.run(vcpu: 0)) }
        } catch { return .fail("\(error)") }
        usleep(50_000)
        var failures: [String] = []
        if LifecycleProbe.guest(for: context.guestABI).architecture == .aarch64 {
            failures = ARM64Scenarios.deleteMemslotWhileRunning(platform, thread, box, context)
        } else {
            failures = x86DeleteMemslotWhileRunning(platform, thread, box, context)
        }
        try? platform.reclaim(.init())
        try? platform.release()
        try? platform.destroy()
        failures += watch.newProblems().prefix(3).map { "the kernel logged: \($0)" }
        if let note = watch.unavailableReason { context.note(note) }
        return failures.isEmpty ? .pass : .fail(failures.joined(separator: "; "))
    }

    static func x86DeleteMemslotWhileRunning(_ platform: Platform, _ thread: VCPUThread, _ box: EventBox, _ context: CheckContext) -> [String] {
        var failures: [String] = []
        do { try platform.unbind() } catch { failures.append("deleting the memslot under a running vCPU failed: \(error)") }
        let exited = thread.join(timeoutNanoseconds: 2_000_000_000)
        if !exited {
            platform.requestStop(vcpu: 0)
            thread.kick()
            _ = thread.join(timeoutNanoseconds: 2_000_000_000)
            failures.append("the vCPU kept running for 2 s after its memslot was deleted (no exit)")
        } else if let event = box.get() {
            context.note("the vCPU exited with: \(event)")
            if case .stopped(.failed(let failure)) = event, failure.isMemoryAccessFailure {
                // The documented outcomes.
            } else {
                failures.append("the vCPU ended with \(event), not an MMIO exit, memory fault or internal error")
            }
        }
        return failures
    }
}

/// The first event a vCPU thread produced.
typealias EventBox = LockedValue<GuestEvent>

extension InlineImage {
    static func elfBytes(machine: UInt16, code: [UInt8], address: UInt64) -> [UInt8] {
        var words: [UInt32] = []
        var padded = code
        while padded.count % 4 != 0 { padded.append(0x90) }
        for i in stride(from: 0, to: padded.count, by: 4) {
            words.append(UInt32(padded[i]) | UInt32(padded[i + 1]) << 8 | UInt32(padded[i + 2]) << 16 | UInt32(padded[i + 3]) << 24)
        }
        return elf(machine: machine, words: words, address: address)
    }
}
