// libFuzzer target: the hypercall decoders and the ownership rules behind
// them. Each input is a sequence of calls (33 bytes each: a selector byte and
// X0–X3 / RAX, RBX, RCX, RDX) against:
//   - the model's EL2 (ModelEL2.handle on a fresh HypPageTable of 16 pages),
//     differentially against the VMM's OwnershipLedger exactly as
//     PKVMModelPlatform forwards each MEM_SHARE/MEM_UNSHARE: both must reach
//     the same verdict and the same page states after every call;
//   - x86's KVM_HC_MAP_GPA_RANGE decoder (X86KVMPlatform.memoryRequest)
//     through MemoryRequestPolicy into a ledger, and the report decoder;
//   - teardown (reclaimAll / reclaim): afterwards no call may change a page.
import GuestImage
import Lifecycle
import Ownership
import PKVMModel
import Platforms

let pageSize: UInt64 = 4096
let baseGFN: UInt64 = 0x40000
let pages = 16

/// Function ids worth reaching, so the fuzzer need not guess 32-bit constants.
let functions: [UInt64] = [
    SMCCCFunction.memShare, SMCCCFunction.memUnshare, SMCCCFunction.hypMeminfo, SMCCCFunction.kvmFeatures,
    SMCCCFunction.mmioGuard, SMCCCFunction.psciVersion, SMCCCFunction.psciFeatures, SMCCCFunction.psciCPUOn,
    SMCCCFunction.psciCPUOff, SMCCCFunction.psciSystemOff, SMCCCFunction.psciSystemReset, 0x8400_0003,
]

struct Reader {
    var bytes: UnsafeBufferPointer<UInt8>
    var offset = 0
    var remaining: Int { bytes.count - offset }
    mutating func byte() -> UInt8 { defer { offset += 1 }; return bytes[offset] }
    mutating func word() -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        offset += 8
        return value
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHypercalls(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = Reader(bytes: UnsafeBufferPointer(start: data, count: size))
    let table = HypPageTable(baseGFN: baseGFN, pageCount: pages)
    table.donateAllToGuest()
    var modelLedger = OwnershipLedger()
    try! modelLedger.addPrivateMemory(GFNRange(start: baseGFN, count: UInt64(pages)))
    var x86Ledger = OwnershipLedger()
    try! x86Ledger.addPrivateMemory(GFNRange(start: 0, count: UInt64(pages)))
    let el2 = ModelEL2()
    var tornDown = false

    while input.remaining >= 33 {
        let selector = input.byte()
        var x = [input.word(), input.word(), input.word(), input.word()]
        // Steer half the calls at real pages (and their neighbours), the
        // rest stay as the fuzzer wrote them.
        if selector & 0x10 != 0 {
            let page = x[1] % UInt64(pages + 4)
            x[1] = (baseGFN &+ page &- 2) &* pageSize &+ (selector & 0x20 != 0 ? x[1] % pageSize : 0)
        }
        switch selector & 3 {
        case 0:
            if selector & 0x40 != 0 { x[0] = functions[Int(x[0] % UInt64(functions.count))] }
            if selector & 0x80 == 0 { x[2] = 0; x[3] = 0 }
            let before = snapshot(table)
            let outcome = el2.handle(x + Array(repeating: 0, count: 27), table: table)
            guard case .memory(let operation, let ipa, let accepted, let refusal) = outcome else {
                precondition(snapshot(table) == before, "a non-memory call changed the stage-2")
                break
            }
            if refusal == ModelEL2.malformedArguments {
                // PKVMModelPlatform answers these without the ledger.
                precondition(!accepted && snapshot(table) == before, "a malformed call changed the stage-2")
                break
            }
            let request = MemoryRequest(operation: operation == .share ? .share : .unshare, gpa: ipa, pages: 1, transport: "hvc")
            let ledgerAccepted: Bool
            if case .success = MemoryRequestPolicy.apply(request, pageSize: pageSize, to: &modelLedger) { ledgerAccepted = true } else { ledgerAccepted = false }
            precondition(ledgerAccepted == accepted, "ledger and EL2 disagree on \(operation) of IPA 0x\(String(ipa, radix: 16)): EL2 \(accepted), ledger \(ledgerAccepted) (\(refusal ?? ""))")
            precondition(!accepted || !tornDown, "a share/unshare after teardown was accepted")
            agree(table, modelLedger)
        case 1:
            let request = X86KVMPlatform.memoryRequest(gpa: selector & 0x10 != 0 ? x[1] &- baseGFN &* pageSize : x[1],
                                                              pages: x[2] % (selector & 0x80 != 0 ? UInt64.max : 24), attributes: x[3], transport: "doorbell")
            let before = x86Ledger.counts
            let outcome = MemoryRequestPolicy.apply(request, pageSize: pageSize, to: &x86Ledger)
            if case .failure(let why) = outcome {
                precondition(x86Ledger.counts == before, "a rejected request changed the ledger")
                precondition(!why.description.isEmpty)
            }
            try! x86Ledger.checkInvariants()
        case 2:
            switch X86KVMPlatform.report(code: x[0] & 0xFFFF_FFFF, rbx: x[1], rcx: x[2], rdx: x[3]) {
            case .check(let id, let passed, let value):
                precondition(id == x[1] && passed == (x[2] == 1) && value == Int64(bitPattern: x[3]))
            case .message(let gpa, let length): precondition(gpa == x[1] && length == x[2])
            case .done(let status): precondition(status == x[1])
            case .unknown(let code, _): precondition(code == x[0] & 0xFFFF_FFFF)
            }
        default:
            // Teardown, once: both sides give every page back to the host.
            guard !tornDown else { break }
            tornDown = true
            _ = modelLedger.reclaimAll()
            for i in 0..<pages { _ = table.reclaim(index: i) { _ in } }
            try! modelLedger.checkInvariants()
        }
    }
    try! modelLedger.checkInvariants()
    return 0
}

func snapshot(_ table: HypPageTable) -> [UInt16] {
    (0..<pages).map { i in let (host, guest) = table.states(index: i); return UInt16(host.rawValue) << 8 | UInt16(guest.rawValue) }
}

/// Every page: EL2's (host, guest) pair is the one the ledger's state means.
func agree(_ table: HypPageTable, _ ledger: OwnershipLedger) {
    for i in 0..<pages {
        let gfn = baseGFN + UInt64(i)
        let (host, guest) = table.states(index: i)
        switch ledger.state(of: gfn) {
        case .private?: precondition(host == .noPage && guest == .owned, "gfn \(gfn): ledger private, EL2 \(host)/\(guest)")
        case .shared?: precondition(host == .sharedBorrowed && guest == .sharedOwned, "gfn \(gfn): ledger shared, EL2 \(host)/\(guest)")
        default: break
        }
    }
}
