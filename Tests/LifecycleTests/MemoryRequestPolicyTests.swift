import Lifecycle
import Ownership
import Platforms
import Testing

@Suite("Share/unshare policy against the ledger")
struct MemoryRequestPolicyTests {
    static func ledger() -> OwnershipLedger {
        var ledger = OwnershipLedger()
        try! ledger.addPrivateMemory(GFNRange(start: 0, count: 16))
        return ledger
    }

    static let cases: [(String, [MemoryRequest], MemoryRequestRejection?)] = [
        ("share a private page", [.init(operation: .share, gpa: 0x2000, pages: 1, transport: "t")], nil),
        ("unaligned gpa", [.init(operation: .share, gpa: 0x2001, pages: 1, transport: "t")], .unaligned(gpa: 0x2001)),
        ("no pages", [.init(operation: .share, gpa: 0x2000, pages: 0, transport: "t")], .emptyRange),
        ("outside RAM", [.init(operation: .share, gpa: 0x10000, pages: 1, transport: "t")],
         .ledger(.outsideGuestMemory(gfn: 0x10))),
        ("range running past RAM", [.init(operation: .share, gpa: 0xF000, pages: 2, transport: "t")],
         .ledger(.outsideGuestMemory(gfn: 0x10))),
        ("double share", [.init(operation: .share, gpa: 0x2000, pages: 1, transport: "t"),
                          .init(operation: .share, gpa: 0x2000, pages: 1, transport: "t")],
         .ledger(.notPrivate(gfn: 2, state: .shared))),
        ("unshare of a private page", [.init(operation: .unshare, gpa: 0x3000, pages: 1, transport: "t")],
         .ledger(.notShared(gfn: 3, state: .private))),
        ("share then unshare", [.init(operation: .share, gpa: 0x3000, pages: 2, transport: "t"),
                                .init(operation: .unshare, gpa: 0x3000, pages: 2, transport: "t")], nil),
    ]

    @Test(arguments: cases)
    func lastRequestGetsPKVMsAnswer(_ name: String, _ requests: [MemoryRequest], _ expected: MemoryRequestRejection?) {
        var ledger = Self.ledger()
        for request in requests.dropLast() {
            #expect(throws: Never.self) { try MemoryRequestPolicy.apply(request, pageSize: 4096, to: &ledger).get() }
        }
        let before = ledger.counts
        let result = MemoryRequestPolicy.apply(requests.last!, pageSize: 4096, to: &ledger)
        switch (result, expected) {
        case (.success, nil):
            break
        case (.failure(let got), let want?):
            #expect(got == want, "\(name)")
            #expect(ledger.counts == before, "a rejected request leaves the ledger as it was")
        default:
            Issue.record("\(name): got \(result), expected \(String(describing: expected))")
        }
        #expect(throws: Never.self) { try ledger.checkInvariants() }
    }

    @Test("KVM_HC_MAP_GPA_RANGE arguments decode into share/unshare", arguments: [
        (UInt64(0x0), UInt64(1), MemoryRequest.Operation.share, UInt64(1)),
        (0x10, 1, .unshare, 1),
        (0x01, 2, .share, 1024),   // 2 MiB pages
        (0x12, 1, .unshare, 262_144), // 1 GiB page
    ])
    func hypercallDecoding(attributes: UInt64, pages: UInt64, operation: MemoryRequest.Operation, expectedPages: UInt64) {
        let request = X86KVMPlatform.memoryRequest(gpa: 0x5000, pages: pages, attributes: attributes, transport: "vmcall")
        #expect(request.operation == operation)
        #expect(request.pages == expectedPages)
        #expect(request.gpa == 0x5000)
    }

    @Test func pageCountOverflowDoesNotWrap() {
        let request = X86KVMPlatform.memoryRequest(gpa: 0, pages: UInt64.max / 2, attributes: 0x2, transport: "t")
        #expect(request.pages == UInt64.max)
    }

    @Test("harness reports decode", arguments: [
        (UInt64(1), HarnessReport.message(gpa: 0x108000, length: 48)),
        (2, .check(id: 0x108000, passed: false, value: -22)),
        (3, .done(status: 0x108000)),
        (77, .unknown(code: 77, arguments: [0x108000, 48, UInt64(bitPattern: -22)])),
    ])
    func reports(code: UInt64, expected: HarnessReport) {
        #expect(X86KVMPlatform.report(code: code, rbx: 0x108000, rcx: 48, rdx: UInt64(bitPattern: -22)) == expected)
    }
}
