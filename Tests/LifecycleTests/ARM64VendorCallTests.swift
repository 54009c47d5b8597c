import GuestImage
import Lifecycle
import Ownership
import Platforms
import Testing

/// One forwarded SMCCC call: registers in, what the VMM must do.
struct VendorCallCase: Sendable, CustomTestStringConvertible {
    var name: String
    var registers: SMCCCRegisters
    var expected: ARM64VendorCalls.Decision
    var testDescription: String { name }
}

private let minus1 = UInt64(bitPattern: -1)
private let minus3 = UInt64(bitPattern: -3)
private let page: UInt64 = 0x4008_5000

private let cases: [VendorCallCase] = [
    VendorCallCase(name: "FEATURES: bits 0, 2, 3, 4 in X0, X1–X3 zero", registers: SMCCCRegisters(0x8600_0000),
                   expected: .answer(SMCCCRegisters(0x1D, 0, 0, 0))),
    VendorCallCase(name: "FEATURES ignores its arguments", registers: SMCCCRegisters(0x8600_0000, 7, 8, 9),
                   expected: .answer(SMCCCRegisters(0x1D))),
    VendorCallCase(name: "the function id is W0: upper bits of X0 are ignored", registers: SMCCCRegisters(0xFFFF_FFFF_8600_0000),
                   expected: .answer(SMCCCRegisters(0x1D))),
    VendorCallCase(name: "HYP_MEMINFO: the 4 KiB granule", registers: SMCCCRegisters(0xC600_0002),
                   expected: .answer(SMCCCRegisters(4096))),
    VendorCallCase(name: "HYP_MEMINFO with X1 ≠ 0: INVALID_PARAMETER", registers: SMCCCRegisters(0xC600_0002, 1),
                   expected: .answer(SMCCCRegisters(minus3))),
    VendorCallCase(name: "HYP_MEMINFO with X2 ≠ 0: INVALID_PARAMETER", registers: SMCCCRegisters(0xC600_0002, 0, 1),
                   expected: .answer(SMCCCRegisters(minus3))),
    VendorCallCase(name: "HYP_MEMINFO with X3 ≠ 0: INVALID_PARAMETER", registers: SMCCCRegisters(0xC600_0002, 0, 0, 1),
                   expected: .answer(SMCCCRegisters(minus3))),
    VendorCallCase(name: "MEM_SHARE goes to the ledger", registers: SMCCCRegisters(0xC600_0003, page),
                   expected: .memoryRequest(MemoryRequest(operation: .share, gpa: page, pages: 1, transport: ARM64VendorCalls.transport))),
    VendorCallCase(name: "MEM_SHARE of an unaligned IPA goes to the ledger (which refuses it)", registers: SMCCCRegisters(0xC600_0003, page + 8),
                   expected: .memoryRequest(MemoryRequest(operation: .share, gpa: page + 8, pages: 1, transport: ARM64VendorCalls.transport))),
    VendorCallCase(name: "MEM_SHARE with X2 ≠ 0: INVALID_PARAMETER before the IPA is looked at", registers: SMCCCRegisters(0xC600_0003, page, 1),
                   expected: .answer(SMCCCRegisters(minus3))),
    VendorCallCase(name: "MEM_SHARE with X3 ≠ 0: INVALID_PARAMETER", registers: SMCCCRegisters(0xC600_0003, page, 0, 1),
                   expected: .answer(SMCCCRegisters(minus3))),
    VendorCallCase(name: "MEM_UNSHARE goes to the ledger", registers: SMCCCRegisters(0xC600_0004, page),
                   expected: .memoryRequest(MemoryRequest(operation: .unshare, gpa: page, pages: 1, transport: ARM64VendorCalls.transport))),
    VendorCallCase(name: "MEM_UNSHARE with X2 ≠ 0: INVALID_PARAMETER", registers: SMCCCRegisters(0xC600_0004, page, 2),
                   expected: .answer(SMCCCRegisters(minus3))),
    VendorCallCase(name: "0xC6000000 (forwarded, not a pKVM call): NOT_SUPPORTED", registers: SMCCCRegisters(0xC600_0000),
                   expected: .answer(SMCCCRegisters(minus1))),
    VendorCallCase(name: "0xC6000001 (forwarded, not a pKVM call): NOT_SUPPORTED", registers: SMCCCRegisters(0xC600_0001, 1, 2, 3),
                   expected: .answer(SMCCCRegisters(minus1))),
    VendorCallCase(name: "MMIO_GUARD: NOT_SUPPORTED", registers: SMCCCRegisters(0xC600_0007, 0x0900_0000),
                   expected: .answer(SMCCCRegisters(minus1))),
    VendorCallCase(name: "a PSCI id (never forwarded) would be NOT_SUPPORTED too", registers: SMCCCRegisters(0x8400_0008),
                   expected: .answer(SMCCCRegisters(minus1))),
]

@Suite("arm64 pKVM vendor calls answered by the VMM")
struct ARM64VendorCallTests {
    @Test("decoding a forwarded call", arguments: cases)
    func decode(_ call: VendorCallCase) {
        #expect(ARM64VendorCalls.decode(call.registers) == call.expected)
    }

    @Test("the ledger's verdict becomes X0 = 0 or -3, X1–X3 = 0")
    func answers() {
        #expect(ARM64VendorCalls.answer(for: .success(())) == SMCCCRegisters(0, 0, 0, 0))
        let refusals: [MemoryRequestRejection] = [.unaligned(gpa: page + 8), .emptyRange]
        for refusal in refusals {
            #expect(ARM64VendorCalls.answer(for: .failure(refusal)) == SMCCCRegisters(minus3, 0, 0, 0))
        }
        #expect(SMCCCRegisters.result(-3).values == [minus3, 0, 0, 0])
        #expect(SMCCCRegisters(1, 2, 3, 0x10).description == "[0x1, 0x2, 0x3, 0x10]")
    }

    /// The demo guest's share/unshare programme (checks 2–8) through the
    /// decoder and the ledger, registers in and out, as the arm64 guest_memfd
    /// platform runs it: the same answers pKVM's EL2 gives.
    @Test("the demo guest's calls answered through the ledger")
    func demoProgramme() throws {
        var ledger = OwnershipLedger()
        let ram = GuestRAM(base: ARM64GuestProtocol.ramBase, size: 4 << 20)
        try ledger.addPrivateMemory(ram.gfns)
        func call(_ registers: SMCCCRegisters) -> SMCCCRegisters {
            switch ARM64VendorCalls.decode(registers) {
            case .answer(let answer): return answer
            case .memoryRequest(let request):
                return ARM64VendorCalls.answer(for: MemoryRequestPolicy.apply(request, pageSize: ram.pageSize, to: &ledger))
            }
        }
        let share: UInt64 = 0xC600_0003, unshare: UInt64 = 0xC600_0004
        #expect(call(SMCCCRegisters(share, page)).x0 == 0, "check 2: share")
        #expect(ledger.state(of: page / 4096) == .shared)
        #expect(call(SMCCCRegisters(unshare, page)).x0 == 0, "check 3: unshare")
        #expect(call(SMCCCRegisters(share, page + 8)).x0 == minus3, "check 4: unaligned")
        #expect(call(SMCCCRegisters(share, 0x10_0000_0000)).x0 == minus3, "check 5: outside RAM")
        #expect(call(SMCCCRegisters(unshare, page)).x0 == minus3, "check 6: unshare of a private page")
        #expect(call(SMCCCRegisters(share, page)).x0 == 0)
        #expect(call(SMCCCRegisters(share, page)).x0 == minus3, "check 7: second share")
        #expect(call(SMCCCRegisters(unshare, page)).x0 == 0, "check 8: unshare")
        #expect(ledger.state(of: page / 4096) == .private)
        #expect(call(SMCCCRegisters(0xC600_0002, 1)) == SMCCCRegisters(minus3), "check 9: MEMINFO with an argument")
    }
}
