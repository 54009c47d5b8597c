import System
import Glibc
import KVM
import Lifecycle

/// guest_memfd behaviour pvmh relies on, probed on the running kernel (after
/// the kernel selftests' guest_memfd_test).
enum GuestMemfdScenarios {
    static let page: UInt64 = 4096

    static var all: [Scenario] {
        [
            probe("gmem.unaligned-size-einval", "KVM_CREATE_GUEST_MEMFD with a size that is not page aligned fails with EINVAL") { vm in
                expectErrno(EINVAL) { () throws(KVMError) in _ = try vm.createGuestMemfd(size: page + 1, flags: [.mmap]) }
            },
            probe("gmem.unsupported-flag-einval", "an unsupported guest_memfd flag fails with EINVAL") { vm in
                expectErrno(EINVAL) { () throws(KVMError) in _ = try vm.createGuestMemfd(size: page, flags: GuestMemfdFlags(rawValue: 1 << 63)) }
            },
            probe("gmem.read-write-fail", "read(2) and write(2) on a guest_memfd fail") { vm in
                let gmem = try vm.createGuestMemfd(size: page, flags: [.mmap])
                var byte: UInt8 = 0
                let r = read(gmem.fd.rawValue, &byte, 1), w = write(gmem.fd.rawValue, &byte, 1)
                return r < 0 && w < 0 ? nil : "read returned \(r), write returned \(w); both must fail"
            },
            probe("gmem.map-private-fails", "mmap(MAP_PRIVATE) of a guest_memfd fails") { vm in
                let gmem = try vm.createGuestMemfd(size: page, flags: [.mmap])
                if case .success(let p) = ProbeMapping.map(length: Int(page), protection: PROT_READ, flags: MAP_PRIVATE, fd: gmem.fd.rawValue) {
                    ProbeMapping.unmap(p, length: Int(page))
                    return "MAP_PRIVATE succeeded; the kernel must refuse it"
                }
                return nil
            },
            probe("gmem.fault-past-eof-sigbus", "touching a guest_memfd mapping past the file's end raises SIGBUS") { vm in
                let gmem = try vm.createGuestMemfd(size: page, flags: [.mmap, .initShared])
                // Map two pages of a one-page file: the second is past EOF.
                let p: UnsafeMutableRawPointer
                switch ProbeMapping.map(length: Int(2 * page), protection: PROT_READ, flags: MAP_SHARED, fd: gmem.fd.rawValue) {
                case .success(let pointer): p = pointer
                case .failure(let error): return "mmap of two pages failed: \(Errno.name(error.errno))"
                }
                defer { ProbeMapping.unmap(p, length: Int(2 * page)) }
                switch GuardedRead.inChild(p + Int(page)) {
                case .faulted(SIGBUS, _): return nil
                case .faulted(let signal, _): return "a read past EOF gave signal \(signal), expected SIGBUS"
                case .readable: return "a read past EOF gave no fault, expected SIGBUS"
                }
            },
            probe("gmem.punch-hole-zeroes-exact-pages", "PUNCH_HOLE zeroes exactly the punched pages and no others") { vm in
                let gmem = try vm.createGuestMemfd(size: 4 * page, flags: [.mmap, .initShared])
                let view = try gmem.map(length: 4 * page, protection: [.read, .write], what: "probe view")
                defer { try? view.unmap() }
                for i in 0..<4 { view.address(at: i * Int(page)).storeBytes(of: UInt8(0xA0 + i), as: UInt8.self) }
                try gmem.punchHole(offset: page, length: 2 * page)
                let values = (0..<4).map { view.address(at: $0 * Int(page)).load(as: UInt8.self) }
                return values == [0xA0, 0, 0, 0xA3] ? nil : "after punching pages 1-2 the pages read \(values), expected [160, 0, 0, 163]"
            },
            probe("gmem.distinct-files", "two guest_memfds are distinct files (different inodes)") { vm in
                let a = try vm.createGuestMemfd(size: page, flags: [.mmap]), b = try vm.createGuestMemfd(size: page, flags: [.mmap])
                var sa = stat(), sb = stat()
                fstat(a.fd.rawValue, &sa)
                fstat(b.fd.rawValue, &sb)
                return sa.st_ino != sb.st_ino ? nil : "both have inode \(sa.st_ino)"
            },
            probe("gmem.overlapping-gpa-eexist", "a guest_memfd memslot overlapping another memslot's GPA range fails with EEXIST (set_memory_region_test)") { vm in
                let gmem = try vm.createGuestMemfd(size: 8 * page, flags: [.mmap, .initShared])
                let view = try gmem.map(length: 8 * page, protection: [.read, .write], what: "probe view")
                defer { try? view.unmap() }
                let address = UInt64(UInt(bitPattern: view.address()))
                let first = MemorySlot(slot: 0, flags: .guestMemfd, guestPhysicalAddress: 0x10_0000, size: 2 * page,
                                       userspaceAddress: address, guestMemfd: gmem.fd.rawValue, guestMemfdOffset: 0)
                try vm.setMemoryRegion(first)
                defer { try? vm.setMemoryRegion(first.deletion) }
                // The front half of the new slot overlaps the end of the first; its gmem range is fresh.
                let second = MemorySlot(slot: 1, flags: .guestMemfd, guestPhysicalAddress: 0x10_0000 + page, size: 2 * page,
                                        userspaceAddress: address + 4 * page, guestMemfd: gmem.fd.rawValue, guestMemfdOffset: 4 * page)
                return expectErrno(EEXIST) { () throws(KVMError) in try vm.setMemoryRegion(second) }
            },
            probe("gmem.overlapping-offset-einval", "binding a guest_memfd range that another memslot already binds fails with EINVAL (kvm_gmem_bind; Linux 7.3 says EEXIST)") { vm in
                let gmem = try vm.createGuestMemfd(size: 4 * page, flags: [.mmap, .initShared])
                let view = try gmem.map(length: 4 * page, protection: [.read, .write], what: "probe view")
                defer { try? view.unmap() }
                let address = UInt64(UInt(bitPattern: view.address()))
                let first = MemorySlot(slot: 0, flags: .guestMemfd, guestPhysicalAddress: 0, size: 2 * page,
                                       userspaceAddress: address, guestMemfd: gmem.fd.rawValue, guestMemfdOffset: 0)
                try vm.setMemoryRegion(first)
                defer { try? vm.setMemoryRegion(first.deletion) }
                let second = MemorySlot(slot: 1, flags: .guestMemfd, guestPhysicalAddress: 0x10_0000, size: 2 * page,
                                        userspaceAddress: address + page, guestMemfd: gmem.fd.rawValue, guestMemfdOffset: page)
                // The x86 development kernels refuse with EINVAL; Linux 7.3
                // (arm64, measured in the QEMU pKVM lane) with EEXIST. Either
                // is a refusal of the double binding, which is the point.
                return expectErrno([EINVAL, EEXIST]) { () throws(KVMError) in try vm.setMemoryRegion(second) }
            },
            probe("gmem.other-vm-einval", "binding a guest_memfd of another VM fails with EINVAL") { vm in
                let other = try vm.system.createVM()
                let gmem = try other.createGuestMemfd(size: page, flags: [.mmap, .initShared])
                let view = try gmem.map(length: page, protection: [.read, .write], what: "probe view")
                defer { try? view.unmap() }
                let slot = MemorySlot(slot: 0, flags: .guestMemfd, guestPhysicalAddress: 0, size: page,
                                      userspaceAddress: UInt64(UInt(bitPattern: view.address())), guestMemfd: gmem.fd.rawValue)
                return expectErrno(EINVAL) { () throws(KVMError) in try vm.setMemoryRegion(slot) }
            },
        ]
    }

    /// A probe on a fresh VM that needs guest_memfd.
    static func probe(_ name: String, _ summary: String, _ body: @escaping @Sendable (VirtualMachine) throws -> String?) -> Scenario {
        kernelProbe(name, summary, requires: .guestMemfd, body)
    }

    /// A probe of the running kernel on a fresh VM: nil from `body` when the
    /// kernel behaved, else why not. Skipped, naming the capability, where
    /// the kernel lacks `requires`.
    static func kernelProbe(_ name: String, _ summary: String, requires capability: Capability? = nil,
                            _ body: @escaping @Sendable (VirtualMachine) throws -> String?) -> Scenario {
        Scenario(name, on: [.kvm], summary) { _ in
            let system: KVMSystem
            do { system = try KVMSystem() } catch { return .skip("needs /dev/kvm: \(error)") }
            if let capability, ((try? system.check(capability)) ?? 0) == 0 { return .skip("needs \(capability)") }
            do {
                let vm = try system.createVM()
                if let problem = try body(vm) { return .fail(problem) }
                return .pass
            } catch {
                return .fail("\(error)")
            }
        }
    }

    static func expectErrno(_ expected: Int32, _ body: () throws(KVMError) -> Void) -> String? {
        expectErrno([expected], body)
    }

    /// nil when `body` fails with one of `expected`.
    static func expectErrno(_ expected: [Int32], _ body: () throws(KVMError) -> Void) -> String? {
        let names = expected.map { Errno.name($0) }.joined(separator: " or ")
        do {
            try body()
            return "succeeded; expected \(names)"
        } catch {
            return expected.contains(error.errno) ? nil : "\(error.operation) failed with \(error.errnoName), expected \(names)"
        }
    }
}
