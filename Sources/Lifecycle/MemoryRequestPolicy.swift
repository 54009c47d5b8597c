import Ownership

/// The pure rule for a share/unshare request: alignment, then the ledger's
/// transition (all-or-nothing). Tested with synthetic requests.
public enum MemoryRequestPolicy {
    public static func apply(_ request: MemoryRequest, pageSize: UInt64,
                             to ledger: inout OwnershipLedger) -> Result<Void, MemoryRequestRejection> {
        guard request.gpa % pageSize == 0 else { return .failure(.unaligned(gpa: request.gpa)) }
        guard request.pages > 0 else { return .failure(.emptyRange) }
        let range = GFNRange(start: request.gpa / pageSize, count: request.pages)
        do {
            switch request.operation {
            case .share: try ledger.share(range)
            case .unshare: try ledger.unshare(range)
            case .relinquish: try ledger.relinquish(range)
            case .donate: try ledger.donate(range)
            }
            return .success(())
        } catch {
            return .failure(.ledger(error))
        }
    }
}
