import KVM
import Lifecycle
import Ownership

/// What the VMM-enforced KVM platforms (x86_64 and arm64, guest_memfd or
/// memfd) do alike: their guest RAM is a `TwoViewGuestRAM`, and every host
/// access to it — reads, probes, the zero check, the end-of-run
/// observation, unbinding and releasing it — goes through that, written
/// once here. The subclasses add the VM, the vCPUs and the transport.
// @unchecked: `memory` and `vm` are set up and torn down on the lifecycle's
// thread while no vCPU runs (Platform's threading rule); vCPU threads reach
// them only through `reflect`/`readHostMemory` under the ledger's lock.
public class TwoViewKVMPlatform: @unchecked Sendable {
    let system: KVMSystem
    var vm: VirtualMachine?
    /// nil before create (and after a failed one).
    var memory: TwoViewGuestRAM?

    init(system: KVMSystem) {
        self.system = system
    }

    public func readHostMemory(gpa: UInt64, length: Int) throws(LifecycleError) -> [UInt8] {
        guard let memory else { throw .invalidState("the host view of guest memory is not mapped") }
        return try memory.readHost(gpa: gpa, length: length)
    }

    public func observeHostAccess() -> HostAccessObservation? { memory?.observeHostAccess() }

    public func checkZero(_ ranges: [GFNRange], pageSize: UInt64) -> ZeroCheck {
        // Without memory, every page fails with readHostMemory's own error.
        memory?.checkZero(ranges)
            ?? ZeroCheck(reading: ranges, pageSize: pageSize) { (gpa, length) throws(LifecycleError) in try readHostMemory(gpa: gpa, length: length) }
    }

    /// A guarded read in this process (the vCPUs are stopped by then).
    public func probeHostRead(gpa: UInt64) -> HostAccess {
        guard let address = memory?.hostAddress(of: gpa) else { return .unmapped }
        return GuardedHostRead.probe(address)
    }

    public func probeHostReads(gpas: [UInt64]) -> [HostAccess] {
        GuardedHostRead.probe(gpas.map { gpa in memory?.hostAddress(of: gpa).map { UnsafeRawPointer($0) } })
    }

    public func unbind() throws(LifecycleError) {
        try memory?.unbind(from: vm)
    }

    public func release() throws(LifecycleError) {
        try memory?.release()
    }
}
