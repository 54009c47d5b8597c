import Glibc
import GuestImage
import Lifecycle
import PKVMModel
import Platforms

/// What a child VMM started by the suite does (`pvmh _child NAME`).
public enum ChildScenarios {
    /// `exit-without-teardown SIZE [PLATFORM]`: boots the demo on the host's
    /// KVM platform (or the one named) with SIZE of guest memory allocated,
    /// runs it until it halts, and exits without any teardown. `spin SIZE
    /// [PLATFORM]`: the same with a guest that never stops, for the parent to kill.
    ///
    /// `stress SIZE PLATFORM VCPUS SEED`: the whole lifecycle, with the
    /// stress guest on VCPUS vCPUs sharing without end on PLATFORM (a KVM
    /// platform id, `kvm` for auto's, or `model`); says "guest under load"
    /// once every vCPU has had a share accepted, for the parent to kill it.
    public static func run(_ arguments: [String]) -> Int32 {
        if arguments.first == "stress" { return stress(Array(arguments.dropFirst())) }
        let spin = arguments.first == "spin"
        guard arguments.first == "exit-without-teardown" || spin else { return 2 }
        let size = UInt64(arguments.dropFirst().first?.dropLast() ?? "64").map { $0 << 20 } ?? (64 << 20)
        let factory = KVMPlatformFactory(platformID: arguments.count > 2 ? arguments[2] : nil)
        do {
            let platform = try factory.make()
            let ram = platform.guestABI.ram(size: size)
            let journal = try Journal()
            try platform.create(ram: ram, journal: journal)
            _ = try platform.makeAllPrivate(ram)
            let image = spin ? try LifecycleProbe.spinImage(for: platform.guestABI) : try LifecycleProbe.guest(for: platform.guestABI).image()
            try platform.load(image)
            try platform.createVCPUs(count: 1, entry: image.entry)
            // A minimal run loop: answer everything, stop at the first stop.
            var ledger = Ownership.OwnershipLedger()
            try? ledger.addPrivateMemory(ram.gfns)
            say("guest running")
            alarm(60)  // a safety net: a child nobody kills still ends
            while true {
                let event = platform.run(vcpu: 0)
                if case .stopped(let reason) = event {
                    say("guest halted: \(reason)")
                    usleep(200_000)  // let the parent see the memory held
                    break
                }
                if case .memoryRequest(let request) = event {
                    platform.complete(vcpu: 0, reply: .memoryResult(MemoryRequestPolicy.apply(request, pageSize: ram.pageSize, to: &ledger)))
                } else {
                    platform.complete(vcpu: 0, reply: .resume)
                }
            }
            // No teardown: the kernel must clean up after a VMM that just exits.
            _exit(0)
        } catch {
            say("child VMM failed: \(error)")
            _exit(1)
        }
    }
}

import Ownership

extension ChildScenarios {
    static func stress(_ arguments: [String]) -> Int32 {
        guard arguments.count == 4, let megabytes = UInt64(arguments[0].dropLast()), let vcpus = Int(arguments[2]),
              let seed = UInt64(arguments[3]) else { return 2 }
        do {
            let platform: Platform = arguments[1] == "model"
                ? PKVMModelPlatform()
                : try KVMPlatformFactory(platformID: arguments[1] == "kvm" ? nil : arguments[1]).make()
            let load = StressLoad(vcpus: vcpus, memory: megabytes << 20, rounds: 0)
            let (name, image) = try load.image(for: platform.guestABI, rounds: 0, seed: seed)
            let sharing = SharingVCPUs(count: load.vcpus(on: platform.guestABI))
            alarm(120)  // a safety net: a child nobody kills still ends
            let lifecycle = ProtectedVMLifecycle(
                platform: platform, journal: try Journal(),
                options: RunOptions(ram: platform.guestABI.ram(size: load.memory), vcpus: load.vcpus(on: platform.guestABI),
                                    timeoutSeconds: 100, handleSignals: false, auditDescriptors: false),
                guestName: name) { event in
                    if case .memory(let request, .success, _, _, let vcpu, _) = event, request.operation == .share,
                       sharing.record(vcpu) {
                        say("guest under load")
                    }
                }
            let report = lifecycle.run(image: image)
            say("the run ended before the parent killed it: \(report.failures.prefix(2).joined(separator: "; "))")
            _exit(1)
        } catch {
            say("child VMM failed: \(error)")
            _exit(1)
        }
    }
}

private func say(_ text: String) {
    let bytes = Array((text + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
}
