import Glibc
import GuestImage

/// The devices every arm64 platform gives the built-in guests
/// (Docs/guests.md, `ARM64GuestProtocol`): the PL011 UART's data and flag
/// registers and the harness window (ARG0…ARG2, then REPORT). One value per
/// vCPU, because the harness arguments are per vCPU.
///
/// The pKVM model and both arm64 KVM platforms decode MMIO here, so the
/// report protocol has one implementation; each platform only decides what
/// a SHARED/UNSHARED claim is checked against (the model's EL2 table, or a
/// host-access probe under real pKVM).
public struct ARM64GuestDevices: Equatable, Sendable {
    /// What a guest store did.
    public enum Write: Equatable, Sendable {
        /// Absorbed (an argument register, a UART register other than data).
        case absorbed
        /// Something for the lifecycle: a console byte or a harness report.
        case event(GuestEvent)
        /// The guest's claim that a MEM_SHARE/MEM_UNSHARE succeeded.
        case claim(ARM64OwnershipClaim)
        /// Neither the UART nor the harness window is at this address.
        case noDevice
    }

    /// PL011 FR: transmit FIFO empty (TXFE, bit 7) and receive FIFO empty
    /// (RXFE, bit 4), so a polling guest never waits.
    public static let uartFlagValue: UInt64 = 0x90

    /// ARG0…ARG2 as this vCPU last wrote them.
    public private(set) var arguments: [UInt64] = [0, 0, 0]
    /// What TRANSPORT reads: the doorbell only where the platform offers it.
    public var transport: ARM64GuestProtocol.Transport
    /// The function id last stored to CALL.
    public private(set) var callFunction: UInt64 = 0

    public init(transport: ARM64GuestProtocol.Transport = .hvc) {
        self.transport = transport
    }

    /// A guest load of CALL on a doorbell platform: the SMCCC call it makes
    /// (function id and X1..X3 as stored before), to be answered by
    /// completing the load with X0. nil for every other load.
    public func doorbellCall(at address: UInt64) -> (function: UInt64, arguments: [UInt64])? {
        guard transport == .mmioDoorbell, address == ARM64GuestProtocol.harnessBase + ARM64GuestProtocol.callOffset else { return nil }
        return (callFunction, arguments)
    }

    /// Whether `address` belongs to one of the devices.
    public static func decodes(_ address: UInt64) -> Bool {
        isUART(address) || isHarness(address)
    }

    static func isUART(_ address: UInt64) -> Bool {
        address >= ARM64GuestProtocol.uartBase && address - ARM64GuestProtocol.uartBase < 0x1000
    }

    static func isHarness(_ address: UInt64) -> Bool {
        address >= ARM64GuestProtocol.harnessBase && address - ARM64GuestProtocol.harnessBase < ARM64GuestProtocol.harnessSize
    }

    /// A guest load: the value to complete it with, or nil where no device is.
    /// UART FR reads "both FIFOs empty", TRANSPORT the platform's transport;
    /// every other register reads 0.
    public func read(address: UInt64) -> UInt64? {
        if ARM64GuestDevices.isUART(address) {
            return address - ARM64GuestProtocol.uartBase == ARM64GuestProtocol.uartFlagOffset ? ARM64GuestDevices.uartFlagValue : 0
        }
        guard ARM64GuestDevices.isHarness(address) else { return nil }
        return address - ARM64GuestProtocol.harnessBase == ARM64GuestProtocol.transportOffset ? transport.rawValue : 0
    }

    /// A guest store of `value` (zero-extended to 64 bits) at `address`.
    public mutating func write(address: UInt64, value: UInt64) -> Write {
        if ARM64GuestDevices.isUART(address) {
            return address == ARM64GuestProtocol.uartBase ? .event(.console([UInt8(truncatingIfNeeded: value)])) : .absorbed
        }
        guard ARM64GuestDevices.isHarness(address) else { return .noDevice }
        let offset = address - ARM64GuestProtocol.harnessBase
        if let slot = ARM64GuestProtocol.argumentOffsets.firstIndex(of: offset) {
            arguments[slot] = value
            return .absorbed
        }
        if offset == ARM64GuestProtocol.callOffset {
            callFunction = value
            return .absorbed
        }
        guard offset == ARM64GuestProtocol.reportOffset else { return .absorbed }
        return ARM64GuestDevices.report(code: value, arguments: arguments)
    }

    /// Decodes a REPORT write with the arguments as they were then.
    public static func report(code: UInt64, arguments a: [UInt64]) -> Write {
        switch ARM64GuestProtocol.Report(rawValue: code) {
        case .message: .event(.report(.message(gpa: a[0], length: a[1])))
        case .check: .event(.report(.check(id: a[0], passed: a[1] == 1, value: Int64(bitPattern: a[2]))))
        case .done: .event(.report(.done(status: a[0])))
        case .corrupted: .event(.report(.corrupted(gpa: a[0], expected: a[1], found: a[2])))
        case .shared: .claim(ARM64OwnershipClaim(kind: .shared, ipa: a[0]))
        case .unshared: .claim(ARM64OwnershipClaim(kind: .unshared, ipa: a[0]))
        case .relinquished: .claim(ARM64OwnershipClaim(kind: .relinquished, ipa: a[0]))
        case nil: .event(.report(.unknown(code: code, arguments: a)))
        }
    }

    /// The little-endian value of an MMIO store's bytes (at most 8).
    public static func value(of bytes: [UInt8]) -> UInt64 {
        bytes.prefix(8).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }
}

/// The guest's report that MEM_SHARE, MEM_UNSHARE or MEM_RELINQUISH of one
/// granule succeeded (harness codes SHARED = 4, UNSHARED = 5, RELINQUISHED = 7). Under real pKVM
/// EL2 handles those calls without telling the VMM, so this claim is how the
/// ledger learns of them, and the platform verifies it by probing host access.
public struct ARM64OwnershipClaim: Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case shared
        case unshared
        case relinquished
    }

    public var kind: Kind
    public var ipa: UInt64

    public init(kind: Kind, ipa: UInt64) {
        self.kind = kind
        self.ipa = ipa
    }

    /// The ledger transition the claim reports.
    public var operation: MemoryRequest.Operation {
        switch kind {
        case .shared: .share
        case .unshared: .unshare
        case .relinquished: .relinquish
        }
    }

    /// The claim as a one-page memory request for the lifecycle's ledger.
    public func memoryRequest(transport: String) -> MemoryRequest {
        MemoryRequest(operation: operation, gpa: ipa, pages: 1, transport: transport)
    }

    /// What a host read of the page must do if the claim is true: a shared
    /// or relinquished page is readable; an unshared one is the guest's
    /// again, so the read faults with SIGSEGV/SEGV_ACCERR (Docs/kvm-abi.md,
    /// "pKVM page ownership").
    public func expects(_ access: HostAccess) -> Bool {
        switch (kind, access) {
        case (.shared, .readable), (.relinquished, .readable): true
        case (.unshared, .faulted(let signal, let code)): signal == SIGSEGV && code == SEGV_ACCERR
        default: false
        }
    }

    /// nil when `access` agrees with the claim, otherwise the finding.
    public func verify(_ access: HostAccess) -> Finding? {
        expects(access) ? nil : .claimContradictsHostView(self, access: access)
    }

    public var description: String { "\(kind.rawValue) IPA 0x\(String(ipa, radix: 16))" }
}
