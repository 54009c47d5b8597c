/// One time a vCPU came out of the guest with something for the lifecycle:
/// the `GuestEvent` its platform returned, when `run(vcpu:)` returned it, and
/// when the lifecycle handed the vCPU back (`complete(vcpu:reply:)` done).
///
/// The lifecycle sees only `GuestEvent`s: exits a platform handles itself
/// (an MMIO read it answers, an interrupt window, an exit KVM handles in the
/// kernel, a hypercall the model's EL2 answers without a notice) are inside
/// the time between two records. So "from `resumedAt` of one record to
/// `exitedAt` of the next" is the time in the guest as the lifecycle can see
/// it, an approximation from above (Docs/trace.md).
public struct VCPUExitRecord: Equatable, Sendable {
    public var vcpu: Int
    public var event: GuestEvent
    /// CLOCK_MONOTONIC nanoseconds when the platform returned the event.
    public var exitedAt: UInt64
    /// When the lifecycle had answered and the vCPU could enter the guest
    /// again; nil for `.stopped`, after which the vCPU's loop ends.
    public var resumedAt: UInt64?

    public init(vcpu: Int, event: GuestEvent, exitedAt: UInt64, resumedAt: UInt64?) {
        self.vcpu = vcpu
        self.event = event
        self.exitedAt = exitedAt
        self.resumedAt = resumedAt
    }
}
