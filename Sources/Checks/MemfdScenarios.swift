import System
import Glibc
import KVM
import Lifecycle

/// memfd behaviour the memfd platforms rely on (Docs/kvm-abi.md, "memfd"),
/// probed on the running kernel: every KVM host runs these, with or without
/// guest_memfd.
enum MemfdScenarios {
    static let page: UInt64 = 4096

    static var all: [Scenario] {
        [
            probe("memfd.punch-hole-zeroes-exact-pages", "PUNCH_HOLE on a memfd zeroes exactly the punched pages, in both views") { _ in
                let file = try SharedMemoryFile(size: 4 * page)
                let kvmView = try file.map(length: 4 * page, protection: [.read, .write], what: "probe view (KVM)")
                defer { try? kvmView.unmap() }
                let hostView = try file.map(length: 4 * page, protection: [.read], what: "probe view (host)")
                defer { try? hostView.unmap() }
                for i in 0..<4 { kvmView.address(at: i * Int(page)).storeBytes(of: UInt8(0xA0 + i), as: UInt8.self) }
                try file.punchHole(offset: page, length: 2 * page)
                let host = (0..<4).map { hostView.address(at: $0 * Int(page)).load(as: UInt8.self) }
                let kvm = (0..<4).map { kvmView.address(at: $0 * Int(page)).load(as: UInt8.self) }
                let expected: [UInt8] = [0xA0, 0, 0, 0xA3]
                return host == expected && kvm == expected ? nil : "after punching pages 1-2 the host view reads \(host) and KVM's \(kvm), expected \(expected)"
            },
            probe("memfd.protected-view-faults", "a PROT_NONE host view of a memfd faults (SIGSEGV, SEGV_ACCERR) while KVM's view stays readable") { _ in
                let file = try SharedMemoryFile(size: page)
                let kvmView = try file.map(length: page, protection: [.read, .write], what: "probe view (KVM)")
                defer { try? kvmView.unmap() }
                let hostView = try file.map(length: page, protection: [.read, .write], what: "probe view (host)")
                defer { try? hostView.unmap() }
                kvmView.address().storeBytes(of: 0x5A, as: UInt8.self)
                try hostView.protect(offset: 0, length: Int(page), .none)
                let host = GuardedRead.inProcess(hostView.address())
                guard host == .faulted(signal: SIGSEGV, code: Int32(SEGV_ACCERR)) else {
                    return "a read of the protected view gave \(host), expected SIGSEGV/SEGV_ACCERR"
                }
                let kvm = GuardedRead.inProcess(kvmView.address())
                return kvm == .readable(0x5A) ? nil : "KVM's view stopped being readable (\(kvm))"
            },
            probe("memfd.memslot-overlap-eexist", "a plain memslot overlapping another's GPA range fails with EEXIST, through memslots v1") { vm in
                let file = try SharedMemoryFile(size: 4 * page)
                let view = try file.map(length: 4 * page, protection: [.read, .write], what: "probe view")
                defer { try? view.unmap() }
                let address = UInt64(UInt(bitPattern: view.address()))
                let first = MemorySlot(slot: 0, flags: [], guestPhysicalAddress: 0x10_0000, size: 2 * page, userspaceAddress: address)
                try vm.setMemoryRegionV1(first)
                defer { try? vm.setMemoryRegionV1(first.deletion) }
                let second = MemorySlot(slot: 1, flags: [], guestPhysicalAddress: 0x10_0000 + page, size: 2 * page,
                                        userspaceAddress: address + 2 * page)
                return GuestMemfdScenarios.expectErrno(EEXIST) { () throws(KVMError) in try vm.setMemoryRegionV1(second) }
            },
        ]
    }

    static func probe(_ name: String, _ summary: String, _ body: @escaping @Sendable (VirtualMachine) throws -> String?) -> Scenario {
        GuestMemfdScenarios.kernelProbe(name, summary, body)
    }
}
