import KVM
import Lifecycle
import PKVMModel
import Platforms
import PVMHTestSupport
import Testing

/// Each platform states what it is made of and what it offers its guests as
/// types; the CLI and the checks rely on these instead of ids or classes.
@Suite("platform traits and guest ABI", .enabled(if: KVMGate.enabled, "needs read/write /dev/kvm to construct the KVM platforms"))
struct PlatformTraitsTests {
    @Test("the model: hypervisor-handled requests, its own memory, 8 arm64 vCPUs at 0x40000000")
    func model() {
        let model = PKVMModelPlatform()
        #expect(model.description.traits == PlatformTraits(flavour: .model, memory: .model, transport: .hypervisorHandled))
        #expect(model.guestABI == .arm64Model)
        #expect(model.guestABI.maximumVCPUs == 8 && model.guestABI.ramBase == 0x4000_0000)
        #expect(!model.description.traits.transport.vmmDecides)
    }

    @Test("x86_64 KVM: a plain VM whose VMM decides, memfd or guest_memfd, RAM at 0, one vCPU, under 4 GiB")
    func x86() throws {
        let platform = X86KVMPlatform(system: try KVMSystem(), backend: .memfd, transport: .doorbell, transportReason: "test")
        defer { try? platform.destroy() }
        #expect(platform.description.id == "x86_64-memfd")
        #expect(platform.description.traits == PlatformTraits(flavour: .plainVM, memory: .memfd, transport: .portDoorbell))
        #expect(platform.description.transportChoice?.name == "doorbell")
        #expect(platform.guestABI == .x86_64KVM && platform.guestABI.maximumMemory == 4095 << 20)
        #expect(platform.description.traits.transport.vmmDecides)
    }

    @Test("arm64 KVM and pKVM: the flavour, backend and transport they were built with")
    func arm64() throws {
        let doorbell = ARM64KVMPlatform(system: try KVMSystem(), backend: .memfd, transport: .mmioDoorbell)
        defer { try? doorbell.destroy() }
        #expect(doorbell.description.traits == PlatformTraits(flavour: .plainVM, memory: .memfd, transport: .mmioDoorbell))
        let filter = ARM64KVMPlatform(system: try KVMSystem(), backend: .guestMemfd, transport: .smcccFilter)
        defer { try? filter.destroy() }
        #expect(filter.description.traits == PlatformTraits(flavour: .plainVM, memory: .guestMemfd, transport: .smcccFilter))
        let protected = ARM64ProtectedPlatform(system: try KVMSystem())
        defer { try? protected.destroy() }
        #expect(protected.description.traits == PlatformTraits(flavour: .protectedVM, memory: .memfd, transport: .hypervisorHandled))
        #expect([doorbell.guestABI, filter.guestABI, protected.guestABI].allSatisfy { $0 == .arm64KVM })
        #expect(GuestABI.arm64KVM.mmioWindows.count == 2)
    }
}
