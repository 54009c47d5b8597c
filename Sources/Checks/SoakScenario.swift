import Lifecycle

/// Lifecycle soak: many lifecycles back to back, with fd and memory
/// accounting at the end (`--repeat N`).
enum SoakScenario {
    static func scenario(repeatCount: Int) -> Scenario {
        Scenario("soak.lifecycles", on: [.kvm, .model],
                 "\(repeatCount) complete lifecycles of the demo guest in a row (--repeat): each passes, and no fd or memory is left at the end") { context in
            run(context, count: repeatCount)
        }
    }

    static func run(_ context: CheckContext, count: Int) -> CheckOutcome {
        let image: GuestImage.ELFImage
        do { image = try LifecycleProbe.guest(for: context.guestABI).image() } catch { return .fail("\(error)") }
        return run(context, count: count, what: "lifecycles") { _ throws(LifecycleError) in
            (image, RunOptions(ram: context.guestABI.ram(size: 4 << 20), timeoutSeconds: 20, auditDescriptors: false))
        }
    }

    /// `count` lifecycles, the image and options of each from `make` (given
    /// its index), then the fd, memory and pin accounting.
    static func run(_ context: CheckContext, count: Int, what: String,
                    make: (Int) throws(LifecycleError) -> (GuestImage.ELFImage, RunOptions)) -> CheckOutcome {
        let baseline = FileDescriptorAudit.openKVMDescriptors()
        let before = MemoryAccounting.held(context.memoryCounter)
        let pinsBefore = context.isProtectedKVM ? PinnedPages.current() : nil
        let start = monotonicNanoseconds()
        for index in 1...max(count, 1) {
            let platform: Platform
            do { platform = try context.makePlatform() } catch { return .skip("\(error)") }
            let journal: Journal
            do { journal = try Journal() } catch { return .fail(error.description) }
            let image: GuestImage.ELFImage, options: RunOptions
            do { (image, options) = try make(index) } catch { return .fail(error.description) }
            let recorder = context.traces?.newRun()
            let report = ProtectedVMLifecycle(
                platform: platform, journal: journal, options: options,
                guestName: "soak") { recorder?.record($0) }.run(image: image)
            if !report.passed {
                return .fail("\(what.dropLast()) \(index) of \(count) failed: \(report.failures.prefix(2).joined(separator: "; "))")
            }
        }
        let elapsed = monotonicNanoseconds() - start
        context.note("\(count) \(what) in \(elapsed / 1_000_000) ms (\(elapsed / UInt64(max(count, 1)) / 1000) µs each)")
        var failures: [String] = []
        let leaked = FileDescriptorAudit.leaked(since: baseline)
        if context.processIsExclusive, !leaked.isEmpty { failures.append("fds left open after \(count) \(what): \(leaked.joined(separator: ", "))") }
        let counter = context.memoryCounter
        let drop = before.map { MemoryAccounting.waitForReturn(to: $0, tolerance: LifecycleProbe.memoryTolerance, counter: counter).shortfall }
        failures += MemoryReturn.returned(drop, counter, after: "\(count) \(what)", context)
        failures += MemoryReturn.unpinned(pinsBefore.map { PinnedPages.waitForReturn(to: $0) }, after: "\(count) \(what)", context)
        return failures.isEmpty ? .pass : .fail(failures.joined(separator: "; "))
    }
}

import GuestImage
