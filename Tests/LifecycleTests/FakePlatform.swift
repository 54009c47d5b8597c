import Glibc
import GuestImage
import Lifecycle
import Ownership

/// A platform with no hypervisor: it plays back scripted guest events, then
/// blocks like a spinning guest until asked to stop. It records every call so
/// tests can check what the lifecycle did and in which order.
final class FakePlatform: Platform, @unchecked Sendable {
    /// `dirtyAfterReclaim`: reclaim "forgets" to discard `dirtyPages`, which keep a non-zero byte.
    enum Failure { case none, create, load, reclaim, dirtyAfterReclaim }
    static let dirtyPages: [UInt64] = [0x108] + Array(0x200..<0x221)

    var description: PlatformDescription {
        PlatformDescription(id: "fake", name: "fake", privateMemory: "none", transport: "script", enforcement: "none",
                            traits: PlatformTraits(flavour: flavour, memory: .memfd,
                                                   transport: flavour == .protectedVM ? .hypervisorHandled : .portDoorbell))
    }
    var guestABI: GuestABI { .x86_64KVM }

    private var lock = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var script: [GuestEvent]
    private var stopRequested = false
    private let failure: Failure
    private(set) var calls: [String] = []
    private(set) var replies: [GuestReply] = []
    private var shared = Set<UInt64>()
    /// `.protectedVM` plays pKVM: the VMM hears of changes after the fact.
    var flavour: PlatformTraits.Flavour = .plainVM
    /// Pages "EL2" made private again without the guest's claim reaching
    /// the ledger (a vCPU stopped mid-call): host reads fault.
    var takenBackByHypervisor = Set<UInt64>()
    /// Pages the guest relinquished (host-readable) …
    private var relinquished = Set<UInt64>()
    /// … and those of them it touched again, so "EL2" donated them back
    /// without telling the VMM: host reads fault.
    var retouchedAfterRelinquish = Set<UInt64>()

    init(script: [GuestEvent], failure: Failure = .none) {
        self.script = script
        self.failure = failure
        pthread_mutex_init(&lock, nil)
        pthread_cond_init(&condition, nil)
    }

    private func note(_ call: String) {
        pthread_mutex_lock(&lock)
        calls.append(call)
        pthread_mutex_unlock(&lock)
    }

    func create(ram: GuestRAM, journal: Journal) throws(LifecycleError) {
        note("create")
        if failure == .create { throw .platform("KVM_CREATE_VM failed: fake (EINVAL)") }
    }
    func makeAllPrivate(_ ram: GuestRAM) throws(LifecycleError) -> String { note("makeAllPrivate"); return "fake" }
    func load(_ image: ELFImage) throws(LifecycleError) {
        note("load")
        if failure == .load { throw .platform("load failed") }
    }
    func createVCPUs(count: Int, entry: UInt64) throws(LifecycleError) { note("createVCPUs") }
    var vcpuCount: Int { 1 }

    func run(vcpu: Int) -> GuestEvent {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        if !script.isEmpty { return script.removeFirst() }
        while !stopRequested { pthread_cond_wait(&condition, &lock) }
        return .stopped(.stopRequested)
    }

    func complete(vcpu: Int, reply: GuestReply) {
        pthread_mutex_lock(&lock)
        replies.append(reply)
        pthread_mutex_unlock(&lock)
    }

    func requestStop(vcpu: Int) {
        pthread_mutex_lock(&lock)
        stopRequested = true
        calls.append("requestStop")
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&lock)
    }

    func reflect(_ operation: MemoryRequest.Operation, _ range: GFNRange) throws(LifecycleError) {
        note("reflect.\(operation.rawValue)")
        for gfn in range.start..<range.end {
            switch operation {
            case .share: shared.insert(gfn)
            case .unshare: shared.remove(gfn)
            case .relinquish: relinquished.insert(gfn)
            case .donate: relinquished.remove(gfn)
            }
        }
    }

    func readHostMemory(gpa: UInt64, length: Int) throws(LifecycleError) -> [UInt8] {
        if shared.contains(gpa / 4096) { return Array("fake message".utf8.prefix(length)) }
        var bytes = [UInt8](repeating: 0, count: length)
        if failure == .dirtyAfterReclaim && calls.contains("reclaim") {
            for gfn in Self.dirtyPages where gfn * 4096 >= gpa && gfn * 4096 + 4096 <= gpa + UInt64(length) {
                bytes[Int(gfn * 4096 - gpa) + 100] = 0x5A
            }
        }
        return bytes
    }

    func probeHostRead(gpa: UInt64) -> HostAccess {
        let gfn = gpa / 4096
        if relinquished.contains(gfn) { return retouchedAfterRelinquish.contains(gfn) ? .faulted(signal: SIGSEGV, code: 2) : .readable(0) }
        return shared.contains(gfn) && !takenBackByHypervisor.contains(gfn) ? .readable(0x66) : .faulted(signal: SIGSEGV, code: 2)
    }

    func reclaim(_ reclaim: Reclaim) throws(LifecycleError) {
        note("reclaim")
        if failure == .reclaim { throw .platform("fallocate(PUNCH_HOLE) on guest_memfd failed: fake (EIO)") }
    }
    func unbind() throws(LifecycleError) { note("unbind") }
    func release() throws(LifecycleError) { note("release") }
    func destroy() throws(LifecycleError) { note("destroy") }
    var openResources: [String] { calls.contains("destroy") ? [] : ["fake-vm"] }
}
