import Glibc
import GuestImage
import Lifecycle
import Testing

/// The UART and harness window every arm64 platform shares, driven directly
/// with the stores and loads the built-in guests make.
@Suite("arm64 guest devices")
struct ARM64GuestDevicesTests {
    let uart = ARM64GuestProtocol.uartBase
    let harness = ARM64GuestProtocol.harnessBase

    /// ARG0…ARG2, then REPORT, as `report` in Guests/arm64/demo.S does.
    func report(_ devices: inout ARM64GuestDevices, _ code: UInt64, _ a: [UInt64]) -> ARM64GuestDevices.Write {
        for (slot, value) in a.enumerated() {
            #expect(devices.write(address: harness + ARM64GuestProtocol.argumentOffsets[slot], value: value) == .absorbed)
        }
        return devices.write(address: harness + ARM64GuestProtocol.reportOffset, value: code)
    }

    @Test("RELINQUISHED (7) is a claim of MEM_RELINQUISH: the page must be readable, and a fault contradicts it in those words")
    func relinquishedClaim() {
        let claim = ARM64OwnershipClaim(kind: .relinquished, ipa: 0x4008_7000)
        #expect(ARM64GuestDevices.report(code: 7, arguments: [0x4008_7000, 0, 0]) == .claim(claim))
        #expect(claim.operation == .relinquish)
        #expect(claim.verify(.readable(0)) == nil)
        let contradiction = claim.verify(.faulted(signal: SIGSEGV, code: Int32(SEGV_ACCERR)))
        #expect(contradiction?.description.contains("instead of readable") == true, "\(String(describing: contradiction))")
    }

    @Test("a store to the UART data register is one console byte; other UART registers absorb stores")
    func uartWrites() {
        var devices = ARM64GuestDevices()
        #expect(devices.write(address: uart, value: 0x41) == .event(.console([0x41])))
        #expect(devices.write(address: uart, value: 0x1234_5641) == .event(.console([0x41])), "only the low byte is data")
        #expect(devices.write(address: uart + 0x30, value: 1) == .absorbed)
        #expect(devices.write(address: uart + 0xFFF, value: 1) == .absorbed)
    }

    @Test("UART FR reads both FIFOs empty; every other device register reads 0")
    func reads() {
        let devices = ARM64GuestDevices()
        #expect(devices.read(address: uart + ARM64GuestProtocol.uartFlagOffset) == 0x90)
        #expect(devices.read(address: uart) == 0)
        #expect(devices.read(address: harness) == 0)
        #expect(devices.read(address: harness + ARM64GuestProtocol.harnessSize - 8) == 0)
    }

    @Test("addresses outside both devices are no device", arguments: [
        UInt64(0x0900_1000), 0x08FF_FFFF, 0x0A00_3DF8, 0x0A00_4000, 0x4000_0000, 0,
    ])
    func noDevice(_ address: UInt64) {
        var devices = ARM64GuestDevices()
        #expect(devices.read(address: address) == nil)
        #expect(devices.write(address: address, value: 1) == .noDevice)
        #expect(!ARM64GuestDevices.decodes(address))
    }

    @Test("MESSAGE, CHECK and DONE become harness reports with the arguments as written")
    func reports() {
        var devices = ARM64GuestDevices()
        #expect(report(&devices, 1, [0x4008_5000, 54, 0]) == .event(.report(.message(gpa: 0x4008_5000, length: 54))))
        #expect(report(&devices, 2, [3, 1, 0]) == .event(.report(.check(id: 3, passed: true, value: 0))))
        #expect(report(&devices, 2, [4, 0, UInt64(bitPattern: -3)]) == .event(.report(.check(id: 4, passed: false, value: -3))))
        #expect(report(&devices, 3, [0, 0, 0]) == .event(.report(.done(status: 0))))
        #expect(report(&devices, 99, [7, 8, 9]) == .event(.report(.unknown(code: 99, arguments: [7, 8, 9]))))
    }

    @Test("SHARED and UNSHARED are ownership claims, not reports")
    func claims() {
        var devices = ARM64GuestDevices()
        #expect(report(&devices, 4, [0x4008_5000, 0, 0]) == .claim(ARM64OwnershipClaim(kind: .shared, ipa: 0x4008_5000)))
        #expect(report(&devices, 5, [0x4008_5000, 0, 0]) == .claim(ARM64OwnershipClaim(kind: .unshared, ipa: 0x4008_5000)))
    }

    @Test("REPORT uses the arguments as they are then; other window offsets absorb stores")
    func argumentState() {
        var devices = ARM64GuestDevices()
        _ = devices.write(address: harness + 0x08, value: 11)
        #expect(devices.arguments == [11, 0, 0])
        #expect(devices.write(address: harness + 0x20, value: 5) == .absorbed)
        #expect(devices.write(address: harness, value: 3) == .event(.report(.done(status: 11))))
        var other = ARM64GuestDevices()
        #expect(other.write(address: harness, value: 3) == .event(.report(.done(status: 0))), "each vCPU has its own arguments")
    }

    @Test("an MMIO store's bytes are a little-endian value", arguments: [
        ([UInt8](), UInt64(0)), ([UInt8]([0x41]), UInt64(0x41)), ([UInt8]([0x78, 0x56, 0x34, 0x12]), UInt64(0x1234_5678)),
        ([UInt8]([1, 2, 3, 4, 5, 6, 7, 8]), UInt64(0x0807_0605_0403_0201)),
    ] as [([UInt8], UInt64)])
    func storeValue(_ bytes: [UInt8], _ value: UInt64) {
        #expect(ARM64GuestDevices.value(of: bytes) == value)
    }

    // MARK: Claims against host access

    @Test("a true claim agrees with host access", arguments: [
        (ARM64OwnershipClaim.Kind.shared, HostAccess.readable(0x68)),
        (.unshared, .faulted(signal: SIGSEGV, code: Int32(SEGV_ACCERR))),
    ])
    func claimHolds(_ kind: ARM64OwnershipClaim.Kind, _ access: HostAccess) {
        let claim = ARM64OwnershipClaim(kind: kind, ipa: 0x4008_5000)
        #expect(claim.expects(access))
        #expect(claim.verify(access) == nil)
    }

    @Test("a claim the host's access contradicts is a finding naming both", arguments: [
        (ARM64OwnershipClaim.Kind.shared, HostAccess.faulted(signal: SIGSEGV, code: Int32(SEGV_ACCERR))),
        (.shared, .unmapped),
        (.unshared, .readable(0)),
        (.unshared, .faulted(signal: SIGBUS, code: 2)),
        (.unshared, .faulted(signal: SIGSEGV, code: Int32(SEGV_MAPERR))),
    ])
    func claimContradicted(_ kind: ARM64OwnershipClaim.Kind, _ access: HostAccess) throws {
        let claim = ARM64OwnershipClaim(kind: kind, ipa: 0x4008_5000)
        let finding = try #require(claim.verify(access))
        #expect(finding == .claimContradictsHostView(claim, access: access))
        #expect(finding.description.contains("claims it \(kind.rawValue) IPA 0x40085000"))
        #expect(finding.description.contains(access.description))
    }

    @Test("a claim is a one-page memory request for the ledger")
    func claimAsRequest() {
        let shared = ARM64OwnershipClaim(kind: .shared, ipa: 0x4008_5000).memoryRequest(transport: "report")
        #expect(shared == MemoryRequest(operation: .share, gpa: 0x4008_5000, pages: 1, transport: "report"))
        #expect(ARM64OwnershipClaim(kind: .unshared, ipa: 0).operation == .unshare)
        #expect(ARM64OwnershipClaim(kind: .shared, ipa: 0x1000).description == "shared IPA 0x1000")
    }
}
