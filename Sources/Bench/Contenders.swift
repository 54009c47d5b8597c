#if arch(x86_64)
import CBaseline
import GuestImage
import Glibc
import KVM
import Lifecycle
import Ownership
import Platforms

/// One in-process lifecycle of each contender, exactly as the figures run it.
enum Contenders {
    /// pvmh's lifecycle of an x86_64 ELF on the x86_64 KVM platform with RAM
    /// on `backend` and the doorbell transport given (no 100 ms vmcall
    /// probe), timed from opening /dev/kvm and parsing the ELF to the verdict.
    ///
    /// `fullVerification` true is what `pvmh run` does: the /proc/self/fd
    /// audit, and host-read probes of private pages (in-process, guarded).
    /// False drops both (Docs/benchmarks.md, figure 1); every other check
    /// (ledger, zero read-back after reclaim, open resources) still runs.
    /// `registerAccess` nil is what `pvmh run` does (synced registers where
    /// the kernel offers them); figure 3 names the path it measures.
    static func pvmh(elf: [UInt8], guestName: String, ramSize: UInt64, backend: RAMBackend, fullVerification: Bool,
                     registerAccess: X86RegisterAccess? = nil,
                     expectPass: Bool = true) throws(BenchFailure) -> (nanoseconds: Double, report: RunReport) {
        try pvmh(elf: elf, guestName: guestName, ramSize: ramSize, backend: backend, auditDescriptors: fullVerification,
                 probeHostReads: fullVerification, registerAccess: registerAccess, expectPass: expectPass)
    }

    /// The same, with the two costly checks chosen one by one.
    static func pvmh(elf: [UInt8], guestName: String, ramSize: UInt64, backend: RAMBackend, auditDescriptors: Bool,
                     probeHostReads: Bool, registerAccess: X86RegisterAccess? = nil,
                     expectPass: Bool = true) throws(BenchFailure) -> (nanoseconds: Double, report: RunReport) {
        var report: RunReport?
        var failure: BenchFailure?
        let elapsed = timed {
            do {
                let image = try ELFImage(bytes: elf, expecting: .x86_64)
                let system = try KVMSystem()
                // The backend given, never chosen by probing: the ratio pairs
                // pvmh with the C baseline on this same backend.
                let x86 = X86KVMPlatform(system: system, backend: backend, transport: .doorbell, transportReason: "given by pvmh bench",
                                         registerAccess: registerAccess)
                let platform: Platform = probeHostReads ? x86 : UnprobedPlatform(x86)
                let journal = try Journal()
                let options = RunOptions(ram: GuestRAM(size: ramSize), auditDescriptors: auditDescriptors)
                report = ProtectedVMLifecycle(platform: platform, journal: journal, options: options, guestName: guestName).run(image: image)
            } catch {
                failure = BenchFailure("pvmh could not run \(guestName): \(error)")
            }
        }
        if let failure { throw failure }
        guard let report else { throw BenchFailure("pvmh produced no report for \(guestName)") }
        if expectPass && !report.passed {
            throw BenchFailure("pvmh's run of \(guestName) failed: \(report.failures.prefix(2).joined(separator: "; "))")
        }
        return (elapsed, report)
    }

    /// The C baseline's lifecycle of the same ELF on the same backend, timed the same way.
    static func baseline(elf: [UInt8], ramSize: UInt64, backend: RAMBackend, syncRegisters: Bool = false,
                         expectStatus: Int64 = 0) throws(BenchFailure) -> (nanoseconds: Double, result: pvmh_baseline_result) {
        var result = pvmh_baseline_result()
        var status: Int32 = 0
        let flags = syncRegisters ? UInt32(PVMH_BASELINE_SYNC_REGS) : 0
        let elapsed = timed {
            status = elf.withUnsafeBufferPointer {
                pvmh_baseline_lifecycle($0.baseAddress, $0.count, ramSize, backend.baseline, flags, &result)
            }
        }
        guard status == 0 else { throw BenchFailure("the C baseline failed: \(errorText(result.error))") }
        guard result.guest_status == expectStatus else {
            throw BenchFailure("the guest under the C baseline reported status \(result.guest_status), expected \(expectStatus)")
        }
        return (elapsed, result)
    }

    /// The C baseline's timed teardown of `bytes` of populated guest memory on `backend`.
    static func baselineTeardown(bytes: UInt64, backend: RAMBackend) throws(BenchFailure) -> Double {
        var nanoseconds: UInt64 = 0
        var error = [CChar](repeating: 0, count: 192)
        let status = error.withUnsafeMutableBufferPointer {
            pvmh_baseline_teardown(backend.baseline, bytes, &nanoseconds, $0.baseAddress, $0.count)
        }
        guard status == 0 else { throw BenchFailure("the C baseline teardown failed: \(cText(error))") }
        return Double(nanoseconds)
    }

    /// A platform as a run sets it up (preallocated, all private, one vCPU),
    /// with `shared` shared through the ledger and the platform.
    static func populatedPlatform(bytes: UInt64, backend: RAMBackend, shared: [GFNRange] = []) throws -> (X86KVMPlatform, OwnershipLedger) {
        let ram = GuestRAM(size: bytes)
        let platform = X86KVMPlatform(system: try KVMSystem(), backend: backend, transport: .doorbell, transportReason: "given by pvmh bench")
        platform.preallocate = true
        try platform.create(ram: ram, journal: try Journal())
        var ledger = OwnershipLedger()
        try ledger.addPrivateMemory(ram.gfns)
        _ = try platform.makeAllPrivate(ram)
        try platform.createVCPUs(count: 1, entry: 0x10_0000)
        for range in shared {
            try ledger.share(range)
            try platform.reflect(.share, range)
        }
        return (platform, ledger)
    }

    /// The safe plan's platform steps on `platform`, timed: ledger reclaim +
    /// platform reclaim (hole punch), unbind, release, destroy.
    static func timedTeardown(_ platform: X86KVMPlatform, _ ledger: inout OwnershipLedger, what: String) throws(BenchFailure) -> Double {
        var stepError: LifecycleError?
        let elapsed = timed {
            do throws(LifecycleError) {
                let reclaimed = ledger.reclaimAll()
                try platform.reclaim(reclaimed)
                try platform.unbind()
                try platform.release()
                ledger.releaseAll()
                try platform.destroy()
            } catch {
                stepError = error
            }
        }
        if let stepError { throw BenchFailure("pvmh teardown of \(what) failed: \(stepError)") }
        return elapsed
    }

    /// pvmh's teardown of `bytes` of populated guest memory on `backend`:
    /// the platform set up as a run sets it up, then `timedTeardown`.
    static func pvmhTeardown(bytes: UInt64, backend: RAMBackend) throws(BenchFailure) -> Double {
        var (platform, ledger): (X86KVMPlatform, OwnershipLedger)
        do {
            (platform, ledger) = try populatedPlatform(bytes: bytes, backend: backend)
        } catch {
            throw BenchFailure("pvmh teardown setup failed: \(error)")
        }
        return try timedTeardown(platform, &ledger, what: "populated memory")
    }

    /// What a C baseline call left in its error buffer.
    static func cText(_ error: [CChar]) -> String {
        String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func errorText<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}

extension RAMBackend {
    /// The same backend as the C baseline names it.
    var baseline: pvmh_baseline_backend {
        switch self {
        case .guestMemfd: PVMH_BASELINE_GMEM
        case .memfd: PVMH_BASELINE_MEMFD
        }
    }
}

/// The x86 platform with the host-read probe switched off: it answers
/// "no host view" (`.unmapped`) without reading, so the lifecycle's
/// isolation check before reclaim costs nothing (pvmh run probes each page
/// under a guarded handler). Everything else is forwarded unchanged, including
/// the zero check after reclaim. For the "verification off" row only.
final class UnprobedPlatform: Platform, Sendable {
    let inner: Platform

    init(_ inner: Platform) { self.inner = inner }

    var description: PlatformDescription { inner.description }
    var guestABI: GuestABI { inner.guestABI }
    func create(ram: GuestRAM, journal: Journal) throws(LifecycleError) { try inner.create(ram: ram, journal: journal) }
    func makeAllPrivate(_ ram: GuestRAM) throws(LifecycleError) -> String { try inner.makeAllPrivate(ram) }
    func load(_ image: ELFImage) throws(LifecycleError) { try inner.load(image) }
    func createVCPUs(count: Int, entry: UInt64) throws(LifecycleError) { try inner.createVCPUs(count: count, entry: entry) }
    var vcpuCount: Int { inner.vcpuCount }
    func run(vcpu: Int) -> GuestEvent { inner.run(vcpu: vcpu) }
    func complete(vcpu: Int, reply: GuestReply) { inner.complete(vcpu: vcpu, reply: reply) }
    func requestStop(vcpu: Int) { inner.requestStop(vcpu: vcpu) }
    func reflect(_ operation: MemoryRequest.Operation, _ range: GFNRange) throws(LifecycleError) { try inner.reflect(operation, range) }
    func readHostMemory(gpa: UInt64, length: Int) throws(LifecycleError) -> [UInt8] { try inner.readHostMemory(gpa: gpa, length: length) }
    func checkZero(_ ranges: [GFNRange], pageSize: UInt64) -> ZeroCheck { inner.checkZero(ranges, pageSize: pageSize) }
    func probeHostRead(gpa: UInt64) -> HostAccess { .unmapped }
    func reclaim(_ reclaim: Reclaim) throws(LifecycleError) { try inner.reclaim(reclaim) }
    func unbind() throws(LifecycleError) { try inner.unbind() }
    func release() throws(LifecycleError) { try inner.release() }
    func destroy() throws(LifecycleError) { try inner.destroy() }
    var openResources: [String] { inner.openResources }
    var findings: [Finding] { inner.findings }
}
#endif
