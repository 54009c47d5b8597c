/// How many guest pages are in each ``PageState``.
///
/// Counts are in pages, not bytes, so a 1 TiB guest with 4 KiB pages is
/// 2^28 pages and every sum fits comfortably in `UInt64`.
public struct PageCounts: Equatable, Sendable, Codable {
    /// Pages the ledger holds as host-owned.
    public var host: UInt64
    /// Pages the guest owns privately.
    public var `private`: UInt64
    /// Pages the guest shares with the host.
    public var shared: UInt64
    /// Pages teardown has returned to the host.
    public var reclaimed: UInt64

    /// Creates counts; unspecified states count zero pages.
    public init(host: UInt64 = 0, private: UInt64 = 0, shared: UInt64 = 0, reclaimed: UInt64 = 0) {
        self.host = host
        self.private = `private`
        self.shared = shared
        self.reclaimed = reclaimed
    }

    /// The count for one state.
    public subscript(state: PageState) -> UInt64 {
        get {
            switch state {
            case .host: host
            case .private: self.private
            case .shared: shared
            case .reclaimed: reclaimed
            }
        }
        set {
            switch state {
            case .host: host = newValue
            case .private: self.private = newValue
            case .shared: shared = newValue
            case .reclaimed: reclaimed = newValue
            }
        }
    }

    /// All pages the ledger covers, whatever their state.
    public var total: UInt64 { host + self.private + shared + reclaimed }
}
