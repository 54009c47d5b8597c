/// One coalesced run of the ledger: a range of frames in one state.
///
/// What a picture of ownership is drawn from: the ledger's runs, never its
/// pages, so a 1 GiB guest that is all private is one `OwnedRange`.
public struct OwnedRange: Hashable, Sendable, CustomStringConvertible {
    public var range: GFNRange
    public var state: PageState

    public init(_ range: GFNRange, _ state: PageState) {
        self.range = range
        self.state = state
    }

    /// `[0x100, 0x110) private`.
    public var description: String { "\(range) \(state.rawValue)" }
}
