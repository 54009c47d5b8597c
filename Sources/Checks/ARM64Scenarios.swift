import Glibc
import GuestImage
import KVM
import Lifecycle
import Ownership
import Platforms

/// Scenarios and verdicts that exist for the arm64 KVM platforms, first run
/// on real pKVM in the QEMU-nested lane (Tests/pkvm-lane). What real pKVM
/// (Linux 7.3) did there is written next to each rule.
enum ARM64Scenarios {
    static var all: [Scenario] {
        #if arch(arm64)
        [
            Scenario("teardown.guest-pages-zeroed", on: [.kvm],
                     "a guest writes a secret into 64 private pages and leaves one page shared: before teardown each private page faults for the host and the shared one reads back; after teardown every private page reads zero and the shared page keeps its contents") { context in
                guestPagesZeroed(context)
            },
        ]
        #else
        []
        #endif
    }

    // MARK: Deleting a memslot under a running vCPU

    /// arm64's rules for `teardown.delete-memslot-while-running`.
    ///
    /// A protected VM: the kernel must refuse (EPERM, "memslots cannot be
    /// deleted or moved once a protected VM has run"), the guest keeps
    /// running and must still stop when asked.
    ///
    /// A non-protected VM: the spinning guest's own instructions lived in the
    /// deleted slot, and arm64 KVM answers an instruction fetch outside every
    /// memslot by injecting a prefetch abort into the guest (there is no
    /// syndrome to hand to userspace), so there may be no exit at all. The
    /// rule is then the one that matters for a VMM: the vCPU stops when asked
    /// and the kernel stays healthy.
    static func deleteMemslotWhileRunning(_ platform: Platform, _ thread: VCPUThread, _ box: EventBox,
                                          _ context: CheckContext) -> [String] {
        var failures: [String] = []
        let protected = platform.description.traits.flavour == .protectedVM
        switch (platform.deleteMemslotsNow(), protected) {
        case (.refused(EPERM), true):
            context.note("the kernel refused to delete a protected VM's memslot under a running vCPU with EPERM, as it must")
        case (.refused(let errno), true):
            failures.append("deleting a protected VM's memslot after its first run failed with \(Errno.name(errno)), not EPERM")
        case (.deleted, true):
            failures.append("the kernel deleted a protected VM's memslot after its first run; it must refuse with EPERM (pKVM cannot take donated pages back that way)")
        case (.deleted, false):
            break
        case (.refused(let errno), false):
            failures.append("deleting the memslot under a running vCPU failed with \(Errno.name(errno))")
        case (.failed(let why), _):
            failures.append("deleting the memslot under a running vCPU failed: \(why)")
        }
        if thread.join(timeoutNanoseconds: 500_000_000) {
            context.note("the vCPU exited by itself with: \(box.get().map { "\($0)" } ?? "no event")")
            if protected {
                failures.append("the protected guest stopped by itself (\(box.get().map { "\($0)" } ?? "no event")) although its memslot stayed")
            }
            return failures
        }
        platform.requestStop(vcpu: 0)
        thread.kick()
        var stopped = false
        for _ in 0..<100 where !stopped {
            stopped = thread.join(timeoutNanoseconds: 20_000_000)
            if !stopped {
                platform.requestStop(vcpu: 0)
                thread.kick()
            }
        }
        if stopped {
            context.note("no exit after the delete; the vCPU stopped when asked (\(box.get().map { "\($0)" } ?? "no event"))")
        } else {
            failures.append("the vCPU did not stop within 2 s of being asked after its memslot was deleted")
        }
        return failures
    }

    // MARK: Pages the guest owned, after teardown

    static let secretBase: UInt64 = 0x4010_0000
    static let secretPages: UInt64 = 64
    static let sharedPage: UInt64 = 0x4020_0000
    /// What the guest writes at bytes 0, 2048 and 4088 of secret page n: "SECRET" + n.
    static let secretPattern: UInt64 = 0x5345_4352_4554_0000
    /// What it writes at bytes 0 and 4088 of the shared page.
    static let keepPattern: UInt64 = 0x4B45_4550_5348_5244

    /// Writes `secretPattern + n` into 64 private pages from 0x40100000,
    /// MEM_SHAREs 0x40200000 (over hvc, or the MMIO doorbell where
    /// TRANSPORT says so) and writes `keepPattern` into it, reports
    /// SHARED(0x40200000) and DONE(0) (DONE(1) if the share failed), and
    /// powers off with PSCI SYSTEM_OFF, leaving the page shared. Source:
    /// Tests/pkvm-lane/guests/zeroed.S.
    static let zeroedWords: [UInt32] = [
        0xD2A80214, 0xD2800815, 0xD2EA68A3, 0xF2C86A43, 0xF2A8AA83, 0xF9000283, 0xF9040283, 0xF907FE83,
        0x91000463, 0x91400694, 0xF10006B5, 0x54FFFF41, 0xD2A14009, 0xF287C009, 0xD2B8C000, 0xF2800060,
        0xD2A80401, 0xD2800002, 0xD2800003, 0xB9402126, 0xF10004DF, 0x540000E1, 0xF9000521, 0xF900093F,
        0xF9000D3F, 0xF9001520, 0xF9401520, 0x14000002, 0xD4000002, 0xB50001E0, 0xD2A80401, 0xD2E968A4,
        0xF2C8AA04, 0xF2AA6904, 0xF28A4884, 0xF9000024, 0xF907FC24, 0xF9000521, 0xF900093F, 0xF9000D3F,
        0xD2800085, 0xF9000125, 0xF900053F, 0x14000003, 0xD2800025, 0xF9000525, 0xD2800065, 0xF9000125,
        0xD2B08000, 0xF2800100, 0xD4000002, 0xD503207F, 0x17FFFFFF,
    ]

    /// The lifecycle is driven here, step by step, because the verdict needs
    /// what the safe plan does not look at: every page the guest wrote, and
    /// the shared page, read by the host between reclaim and release.
    ///
    /// Real pKVM (nVHE, QEMU 7.2): every secret page faults with SIGSEGV
    /// (SEGV_ACCERR) before teardown and reads zero after it; the shared page
    /// keeps its contents. In hVHE on QEMU 7.2 (the lane's negative control)
    /// pages keep the guest's secret: this is the check that says so.
    static func guestPagesZeroed(_ context: CheckContext) -> CheckOutcome {
        let watch = KernelLogWatch()
        watch.start()
        let pinsBefore = context.isProtectedKVM ? PinnedPages.current() : nil
        let platform: Platform
        do { platform = try context.makePlatform() } catch { return .skip("\(error)") }
        let journal: Journal
        do { journal = try Journal() } catch { return .fail("\(error)") }
        let ram = context.guestABI.ram(size: 4 << 20)
        let driver = LoopDriver(platform: platform, ram: ram)
        var failures: [String] = []
        defer {
            try? platform.release()
            try? platform.destroy()
        }
        do {
            try platform.create(ram: ram, journal: journal)
            _ = try platform.makeAllPrivate(ram)
            let image = try ELFImage(bytes: InlineImage.elf(machine: 183, words: zeroedWords, address: ARM64GuestProtocol.imageBase))
            try platform.load(image)
            try platform.createVCPUs(count: 1, entry: image.entry)
        } catch {
            return .fail("setting up the VM failed: \(error)")
        }
        if let problem = driver.runToCompletion(timeoutSeconds: 20) { return .fail(problem) }
        if driver.status != 0 { failures.append("the guest reported DONE(\(driver.status.map(String.init) ?? "none")): its MEM_SHARE of 0x\(String(sharedPage, radix: 16)) failed") }
        failures += platform.findings.map(\.description)

        // Before teardown: the hypervisor (or the VMM's PROT_NONE view) keeps
        // the host out of every private page; the shared page is readable.
        var faulted = 0
        var codes = Set<String>()
        for n in 0..<secretPages {
            let access = platform.probeHostRead(gpa: secretBase + n * ram.pageSize)
            if case .faulted = access { faulted += 1; codes.insert(access.description) } else {
                failures.append("the host could read private page 0x\(String(secretBase + n * ram.pageSize, radix: 16)) before teardown (\(access))")
            }
        }
        context.note("before teardown: \(faulted) of \(secretPages) private pages faulted for the host (\(codes.sorted().joined(separator: ", ")))")
        failures += checkShared(platform, when: "before teardown")

        // Teardown as the safe plan does it: stop (the guest is off), reclaim.
        let reclaimed = driver.reclaimAll()
        do { try platform.reclaim(reclaimed) } catch { failures.append("reclaim failed: \(error)") }

        var leaked: [String] = []
        for n in 0..<secretPages {
            let gpa = secretBase + n * ram.pageSize
            do {
                let bytes = try platform.readHostMemory(gpa: gpa, length: Int(ram.pageSize))
                if let offset = bytes.firstIndex(where: { $0 != 0 }) {
                    leaked.append("0x\(String(gpa, radix: 16)) (byte \(offset) is 0x\(String(bytes[offset], radix: 16)))")
                }
            } catch {
                failures.append("could not read reclaimed page 0x\(String(gpa, radix: 16)): \(error)")
            }
        }
        if leaked.isEmpty {
            context.note("after teardown: all \(secretPages) private pages read zero")
        } else {
            failures.append("\(leaked.count) of \(secretPages) private pages were not zeroed after teardown: the guest's secret is readable by the host at \(leaked.prefix(4).joined(separator: ", "))\(leaked.count > 4 ? ", …" : "")")
        }
        failures += checkShared(platform, when: "after teardown")

        do {
            try platform.unbind()
            try platform.release()
            try platform.destroy()
        } catch {
            failures.append("finishing teardown failed: \(error)")
        }
        if !platform.openResources.isEmpty { failures.append("after teardown the platform still holds \(platform.openResources.joined(separator: ", "))") }
        if let pinsBefore {
            failures += MemoryReturn.unpinned(PinnedPages.waitForReturn(to: pinsBefore), during: driver.pinnedAtStop.map { $0 - pinsBefore },
                                              after: "teardown", context)
        }
        failures += watch.newProblems().prefix(3).map { "the kernel logged: \($0)" }
        if let note = watch.unavailableReason { context.note(note) }
        return failures.isEmpty ? .pass : .fail(failures.joined(separator: "; "))
    }

    /// The shared page must read back what the guest wrote into it. Probed
    /// first: if the share did not happen the page is private, and reading
    /// it directly would be exactly the host bug this harness catches.
    static func checkShared(_ platform: Platform, when: String) -> [String] {
        let access = platform.probeHostRead(gpa: sharedPage)
        guard case .readable = access else {
            return ["the host cannot read the shared page 0x\(String(sharedPage, radix: 16)) \(when) (\(access))"]
        }
        do {
            let bytes = try platform.readHostMemory(gpa: sharedPage, length: 4096)
            let first = bytes.withUnsafeBytes { $0.load(fromByteOffset: 0, as: UInt64.self) }
            let last = bytes.withUnsafeBytes { $0.load(fromByteOffset: 4088, as: UInt64.self) }
            if first == keepPattern && last == keepPattern { return [] }
            return ["the shared page 0x\(String(sharedPage, radix: 16)) lost its contents \(when) (reads 0x\(String(first, radix: 16)), 0x\(String(last, radix: 16)))"]
        } catch {
            return ["the host could not read the shared page 0x\(String(sharedPage, radix: 16)) \(when): \(error)"]
        }
    }
}

/// Runs vCPU 0 of a platform to completion on its own thread, answering
/// share/unshare from an ownership ledger as the lifecycle does.
// @unchecked: the ledger and results are written by the one vCPU thread it starts
// and read only after that thread is joined.
final class LoopDriver: @unchecked Sendable {
    let platform: Platform
    let ram: GuestRAM
    private var ledger = OwnershipLedger()
    private(set) var status: UInt64?
    private(set) var stop: VCPUStopReason?
    /// /proc/vmstat's pinned pages when the guest stopped (arm64-pkvm).
    private(set) var pinnedAtStop: Int64?

    init(platform: Platform, ram: GuestRAM) {
        self.platform = platform
        self.ram = ram
        try? ledger.addPrivateMemory(ram.gfns)
    }

    /// nil when the guest stopped by itself; otherwise what went wrong.
    func runToCompletion(timeoutSeconds: Double) -> String? {
        let thread: VCPUThread
        do {
            thread = try VCPUThread(index: 0) { [self] in loop() }
        } catch {
            return "starting the vCPU thread failed: \(error)"
        }
        if !thread.join(timeoutNanoseconds: UInt64(timeoutSeconds * 1e9)) {
            platform.requestStop(vcpu: 0)
            thread.kick()
            _ = thread.join(timeoutNanoseconds: 2_000_000_000)
            return "the guest did not power off within \(Int(timeoutSeconds)) s"
        }
        pinnedAtStop = PinnedPages.current()
        switch stop {
        case .poweredOff?, .halted?: return nil
        case let reason?: return "the guest stopped with \(reason), not by powering off"
        case nil: return "the guest stopped without a reason"
        }
    }

    private func loop() {
        while true {
            let event = platform.run(vcpu: 0)
            switch event {
            case .stopped(let reason):
                stop = reason
                return
            case .memoryRequest(let request):
                let result = MemoryRequestPolicy.apply(request, pageSize: ram.pageSize, to: &ledger)
                if case .success = result {
                    try? platform.reflect(request.operation, GFNRange(start: request.gpa / ram.pageSize, count: request.pages))
                }
                platform.complete(vcpu: 0, reply: .memoryResult(result))
            case .report(.done(let value)):
                status = value
                platform.complete(vcpu: 0, reply: .resume)
            default:
                platform.complete(vcpu: 0, reply: .resume)
            }
        }
    }

    /// The ledger's reclaim (after the vCPU thread has ended).
    func reclaimAll() -> Reclaim { ledger.reclaimAll() }
}
