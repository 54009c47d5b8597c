import GuestImage
import PKVMModel
import Testing

@Suite("Model EL2: pKVM's hypercalls and ownership transitions")
struct ModelEL2Tests {
    static let base: UInt64 = 0x4000_0000
    static func table() -> HypPageTable {
        let table = HypPageTable(baseGFN: base / 4096, pageCount: 16)
        table.donateAllToGuest()
        return table
    }
    static let invalid = UInt64(bitPattern: -3)
    static let notSupported = UInt64(bitPattern: -1)

    @Test func donationMakesEveryPageGuestOwned() {
        let table = Self.table()
        #expect(table.host(Self.base / 4096) == .noPage)
        #expect(table.guest(Self.base / 4096) == .owned)
        #expect(table.guestStateCounts() == [.owned: 16])
        #expect(!table.hostMayAccess(Self.base / 4096))
    }

    @Test("calls answer as pKVM does", arguments: [
        ([SMCCCFunction.kvmFeatures, 0, 0, 0], [SMCCCFunction.protectedVMFeatures, 0, 0, 0]),
        ([SMCCCFunction.hypMeminfo, 0, 0, 0], [4096, 0, 0, 0]),
        ([SMCCCFunction.hypMeminfo, 1, 0, 0], [invalid, 0, 0, 0]),
        ([SMCCCFunction.hypMeminfo, 0, 0, 7], [invalid, 0, 0, 0]),
        ([SMCCCFunction.psciVersion, 0, 0, 0], [0x10001, 0, 0, 0]),
        ([SMCCCFunction.psciFeatures, SMCCCFunction.psciSystemOff, 0, 0], [0, 0, 0, 0]),
        ([SMCCCFunction.psciFeatures, 0x8400_00FF, 0, 0], [notSupported, 0, 0, 0]),
        ([0xC600_0001, 0, 0, 0], [notSupported, 0, 0, 0]),
        ([SMCCCFunction.mmioGuardMap, base, 0, 0], [notSupported, 0, 0, 0]),
    ] as [([UInt64], [UInt64])])
    func simpleCalls(_ x: [UInt64], _ expected: [UInt64]) {
        #expect(ModelEL2().handle(x, table: Self.table()) == .result(expected))
    }

    @Test func featuresBitmapIsFeaturesMeminfoShareUnshare() {
        #expect(SMCCCFunction.protectedVMFeatures == 0b11101)
    }

    @Test func withoutVendorCallsEverythingPKVMIsNotSupported() {
        let el2 = ModelEL2(vendorCalls: false)
        for function in [SMCCCFunction.kvmFeatures, SMCCCFunction.hypMeminfo, SMCCCFunction.memShare, SMCCCFunction.memUnshare] {
            #expect(el2.handle([function, Self.base, 0, 0], table: Self.table()) == .result([Self.notSupported, 0, 0, 0]))
        }
        #expect(el2.handle([SMCCCFunction.psciSystemOff, 0, 0, 0], table: Self.table()) == .systemOff)
    }

    @Test func shareAndUnshareFollowTheStateMachine() {
        let table = Self.table()
        let el2 = ModelEL2()
        let ipa = Self.base + 0x3000, gfn = ipa / 4096
        guard case .memory(.share, ipa, true, nil) = el2.handle([SMCCCFunction.memShare, ipa, 0, 0], table: table) else {
            Issue.record("share of a guest-owned page must succeed"); return
        }
        #expect(table.guest(gfn) == .sharedOwned && table.host(gfn) == .sharedBorrowed)
        #expect(table.hostMayAccess(gfn))
        guard case .memory(.share, _, false, let why?) = el2.handle([SMCCCFunction.memShare, ipa, 0, 0], table: table) else {
            Issue.record("double share must be refused"); return
        }
        #expect(why.description.contains("SHARED_OWNED"))
        guard case .memory(.unshare, _, true, nil) = el2.handle([SMCCCFunction.memUnshare, ipa, 0, 0], table: table) else {
            Issue.record("unshare of a shared page must succeed"); return
        }
        #expect(table.guest(gfn) == .owned && table.host(gfn) == .noPage)
        guard case .memory(.unshare, _, false, _) = el2.handle([SMCCCFunction.memUnshare, ipa, 0, 0], table: table) else {
            Issue.record("unshare of a private page must be refused"); return
        }
    }

    @Test("bad requests are refused and change nothing", arguments: [
        ([SMCCCFunction.memShare, base + 8, 0, 0], "not granule aligned"),
        ([SMCCCFunction.memShare, 0x10_0000_0000, 0, 0], "outside guest memory"),
        ([SMCCCFunction.memShare, base, 1, 0], "X2/X3 must be zero"),
        ([SMCCCFunction.memUnshare, base, 0, 0], "EL2 refused unshare"),
    ] as [([UInt64], String)])
    func refusals(_ x: [UInt64], _ reason: String) {
        let table = Self.table()
        guard case .memory(_, _, false, let why?) = ModelEL2().handle(x, table: table) else {
            Issue.record("\(x) must be refused"); return
        }
        #expect(why.description.contains(reason))
        #expect(table.guestStateCounts() == [.owned: 16])
    }

    @Test func reclaimScrubsGuestPagesAndKeepsSharedOnes() {
        let table = Self.table()
        try! table.guestShare(Self.base / 4096 + 1)
        var zeroed: [Int] = []
        #expect(table.reclaim(index: 0) { zeroed.append($0) } == .zeroed)
        #expect(table.reclaim(index: 1) { zeroed.append($0) } == .kept)
        #expect(zeroed == [0])
        #expect(table.host(Self.base / 4096) == .owned && table.guest(Self.base / 4096) == .noPage)
        #expect(table.hostMayAccess(Self.base / 4096 + 1))
    }

    @Test func cpuOnAndSystemEvents() {
        #expect(ModelEL2().handle([SMCCCFunction.psciCPUOn, 1, 0x4008_0000, 42], table: Self.table())
                == .cpuOn(target: 1, entry: 0x4008_0000, context: 42))
        #expect(ModelEL2().handle([SMCCCFunction.psciSystemReset, 0, 0, 0], table: Self.table()) == .systemReset)
        #expect(ModelEL2().handle([SMCCCFunction.psciCPUOff, 0, 0, 0], table: Self.table()) == .cpuOff)
    }
}

/// Android's vendor calls on the model's EL2 (Docs/kvm-abi.md, "Android's
/// protected-VM ABI"), as android14-6.1's hyp/nvhe/pkvm.c answers them.
@Suite("Model EL2: Android's MEM_RELINQUISH and MMIO guard")
struct ModelEL2AndroidTests {
    static let base = ModelEL2Tests.base
    static let invalid = ModelEL2Tests.invalid
    static let el2 = ModelEL2(flavour: .android)
    static let uart = ARM64GuestProtocol.uartBase

    @Test func featuresOfferRelinquishAndTheGuardOnlyOnAndroid() {
        #expect(PKVMFlavour.upstream.features == 0x1d)
        #expect(PKVMFlavour.android.features == 0x3fd)
        #expect(Self.el2.handle([SMCCCFunction.kvmFeatures, 0, 0, 0], table: ModelEL2Tests.table()) == .result([0x3fd, 0, 0, 0]))
        for function in [SMCCCFunction.mmioGuardInfo, SMCCCFunction.mmioGuardEnroll, SMCCCFunction.mmioGuardMap,
                         SMCCCFunction.mmioGuardUnmap, SMCCCFunction.memRelinquish] {
            #expect(ModelEL2().handle([function, 0, 0, 0], table: ModelEL2Tests.table()) == .result([ModelEL2Tests.notSupported, 0, 0, 0]),
                    "upstream pKVM does not know 0x\(String(function, radix: 16))")
        }
        #expect(Self.el2.handle([SMCCCFunction.mmioGuardInfo, 0, 0, 0], table: ModelEL2Tests.table()) == .result([4096, 0, 0, 0]))
        #expect(Self.el2.handle([SMCCCFunction.mmioGuardInfo, 1, 0, 0], table: ModelEL2Tests.table()) == .result([Self.invalid, 0, 0, 0]))
    }

    @Test func relinquishTakesOnlyAPrivatePageAndNothingMappedIsSuccess() throws {
        let table = ModelEL2Tests.table()
        let ipa = Self.base + 0x2000, gfn = ipa / 4096
        var scrubbed: [(index: Int, guestState: PKVMPageState?)] = []
        let outcome = Self.el2.handle([SMCCCFunction.memRelinquish, ipa, 0, 0], table: table) { index in
            scrubbed.append((index, table.guest(gfn)))
        }
        #expect(outcome == .memory(operation: .relinquish, ipa: ipa, accepted: true, refusal: nil))
        #expect(scrubbed.map(\.index) == [2] && scrubbed.first?.guestState == .owned, "EL2 zeroes the page while the guest still owns it")
        #expect(table.guest(gfn) == .noPage && table.host(gfn) == .owned && table.hostMayAccess(gfn))
        // A page given back maps nothing: the guard may annotate it.
        _ = Self.el2.handle([SMCCCFunction.mmioGuardEnroll, 0, 0, 0], table: table)
        #expect(Self.el2.handle([SMCCCFunction.mmioGuardMap, ipa, 0, 0], table: table) == .mmioGuard(.map, ipa: ipa, refusal: nil))
        // The guest's stage-2 maps nothing there now: SUCCESS, no change.
        #expect(Self.el2.handle([SMCCCFunction.memRelinquish, ipa, 0, 0], table: table) == .relinquishedNothing(ipa: ipa))
        #expect(Self.el2.handle([SMCCCFunction.memRelinquish, 0x10_0000_0000, 0, 0], table: table) == .relinquishedNothing(ipa: 0x10_0000_0000))
        // Unaligned and malformed calls are refused before any page is looked at.
        #expect(Self.el2.handle([SMCCCFunction.memRelinquish, ipa + 8, 0, 0], table: table)
                == .memory(operation: .relinquish, ipa: ipa + 8, accepted: false, refusal: .unaligned(ipa: ipa + 8)))
        #expect(Self.el2.handle([SMCCCFunction.memRelinquish, Self.base, 1, 0], table: table)
                == .memory(operation: .relinquish, ipa: Self.base, accepted: false, refusal: .malformedArguments))
        // A shared page is not the guest's alone to give.
        let shared = Self.base + 0x3000
        _ = Self.el2.handle([SMCCCFunction.memShare, shared, 0, 0], table: table)
        guard case .memory(.relinquish, shared, false, .ownership?) = Self.el2.handle([SMCCCFunction.memRelinquish, shared, 0, 0], table: table) else {
            Issue.record("relinquish of a shared page must be refused"); return
        }
        #expect(table.guest(shared / 4096) == .sharedOwned)
    }

    @Test func theGuardRefusesBeforeEnrolMemoryAndUnalignedAndForwardsOnlyGuardedPages() {
        let table = ModelEL2Tests.table()
        let guardTable = table.mmioGuard
        #expect(guardTable.permits(address: Self.uart, size: 4), "before ENROLL every MMIO access reaches the host")
        #expect(Self.el2.handle([SMCCCFunction.mmioGuardMap, Self.uart, 0, 0], table: table) == .mmioGuard(.map, ipa: Self.uart, refusal: .notEnrolled))
        #expect(Self.el2.handle([SMCCCFunction.mmioGuardUnmap, Self.uart, 0, 0], table: table) == .mmioGuard(.unmap, ipa: Self.uart, refusal: .notEnrolled))
        #expect(Self.el2.handle([SMCCCFunction.mmioGuardEnroll, 0, 0, 0], table: table) == .mmioGuard(.enroll, ipa: 0, refusal: nil))
        #expect(!guardTable.permits(address: Self.uart, size: 4), "after ENROLL an unguarded page aborts")
        #expect(Self.el2.handle([SMCCCFunction.mmioGuardMap, Self.uart, 0, 0], table: table) == .mmioGuard(.map, ipa: Self.uart, refusal: nil))
        #expect(Self.el2.handle([SMCCCFunction.mmioGuardMap, Self.uart, 0, 0], table: table) == .mmioGuard(.map, ipa: Self.uart, refusal: nil),
                "MAP of a guarded page is idempotent")
        #expect(Self.el2.handle([SMCCCFunction.mmioGuardMap, Self.uart + 8, 0, 0], table: table)
                == .mmioGuard(.map, ipa: Self.uart + 8, refusal: .unaligned(ipa: Self.uart + 8)))
        #expect(Self.el2.handle([SMCCCFunction.mmioGuardMap, Self.base, 0, 0], table: table) == .mmioGuard(.map, ipa: Self.base, refusal: .memory(ipa: Self.base)))
        #expect(guardTable.permits(address: Self.uart + 0x18, size: 4))
        #expect(!guardTable.permits(address: Self.uart + 0xFFC, size: 8), "an access crossing into an unguarded page aborts")
        #expect(guardTable.guardedIPAs == [Self.uart])
        // UNMAP succeeds whether or not the page was guarded, and removes the guard.
        #expect(Self.el2.handle([SMCCCFunction.mmioGuardUnmap, 0x0A00_1000, 0, 0], table: table) == .mmioGuard(.unmap, ipa: 0x0A00_1000, refusal: nil))
        #expect(Self.el2.handle([SMCCCFunction.mmioGuardUnmap, Self.uart, 0, 0], table: table) == .mmioGuard(.unmap, ipa: Self.uart, refusal: nil))
        #expect(!guardTable.permits(address: Self.uart, size: 4))
    }
}
