import Lifecycle
import Ownership
import Synchronization

/// A sink of the lifecycle's event stream that keeps the ledger's runs at
/// every `OwnershipSnapshot`: what `OwnershipMap` draws. O(runs) per
/// snapshot, never O(pages); snapshots come for the listed share/unshare
/// requests only (the journal's 1000), the end of the run and each teardown
/// step, so a storm's map stays bounded like its journal.
public final class OwnershipTimeline: Sendable {
    /// One column of the map: the ledger after one point of the run.
    public struct Column: Equatable, Sendable {
        public var point: OwnershipSnapshot.Point
        /// The ledger's runs; frames of guest RAM they leave out are the host's.
        public var ranges: [OwnedRange]
        /// Nanoseconds since the run started.
        public var time: UInt64
        /// A teardown step that failed (teardown columns only).
        public var failure: String?
    }

    /// Something that went wrong, placed after the column it followed.
    public struct Note: Equatable, Sendable {
        /// The column before it (-1: before the first).
        public var column: Int
        public var text: String
    }

    /// Everything the map needs, in time order.
    public struct Picture: Equatable, Sendable {
        public var guest: String?
        public var platform: String?
        /// Guest RAM's frames (known once the run started).
        public var ram: GFNRange?
        public var pageSize: UInt64
        public var columns: [Column]
        public var notes: [Note]
        /// Share/unshare requests answered past the listed ones (not drawn one by one).
        public var unlistedRequests: Int
    }

    private struct State {
        var start: UInt64?
        var guest: String?
        var platform: String?
        var ram: GFNRange?
        var pageSize: UInt64 = 4096
        var snapshots: [OwnershipSnapshot] = []
        var failedSteps: [TeardownStep: String] = [:]
        var notes: [(UInt64, String)] = []
        var unlisted = 0
    }

    private let state = Mutex(State())

    public init() {}

    public func record(_ event: LifecycleEvent) {
        state.withLock { state in
            let now = monotonicNanoseconds()
            if state.start == nil { state.start = now }
            switch event {
            case .started(let platform, let guest, let ram, _, _):
                state.guest = guest
                state.platform = platform.id
                state.ram = ram.gfns
                state.pageSize = ram.pageSize
            case .ownership(let snapshot):
                state.snapshots.append(snapshot)
            case .teardownStep(let record):
                if let error = record.error { state.failedSteps[record.step] = error }
            case .memory(_, _, _, false, _, _):
                state.unlisted += 1
            case .failed(let error):
                state.notes.append((now, "error: \(error.description)"))
            case .violation(let violation):
                state.notes.append((now, "violation: \(violation.description)"))
            case .timedOut(let seconds):
                state.notes.append((now, "the guest did not stop within \(seconds) s: stopped by the VMM"))
            case .interrupted(let signal, _):
                state.notes.append((now, "\(StopSignals.name(signal)) received: teardown in the safe order"))
            case .requestStorm(let after):
                state.notes.append((now, "request storm: requests past the first \(after) are answered and counted, not drawn one by one"))
            default:
                break
            }
        }
    }

    /// The columns so far, in time order (valid at any point of a run).
    public var picture: Picture {
        let state = state.withLock { $0 }
        let start = state.start ?? 0
        // Two vCPUs can emit their snapshots in another order than they took
        // them under the ledger's lock; the time they were taken decides.
        let snapshots = state.snapshots.enumerated().sorted {
            $0.1.takenAt != $1.1.takenAt ? $0.1.takenAt < $1.1.takenAt : $0.0 < $1.0
        }.map(\.1)
        let columns = snapshots.map { snapshot in
            var failure: String?
            if case .teardown(let step) = snapshot.point { failure = state.failedSteps[step] }
            return Column(point: snapshot.point, ranges: snapshot.ranges, time: snapshot.takenAt - min(snapshot.takenAt, start),
                          failure: failure)
        }
        let notes = state.notes.map { time, text in
            Note(column: (snapshots.lastIndex { $0.takenAt <= time } ?? -1), text: text)
        }
        return Picture(guest: state.guest, platform: state.platform, ram: state.ram, pageSize: state.pageSize,
                       columns: columns, notes: notes, unlistedRequests: state.unlisted)
    }
}

extension OwnershipTimeline.Column {
    /// Every frame of `extent` in this column: the ledger's runs, and the
    /// frames they leave out as host-owned. Coalesced, in frame order.
    public func pieces(in extent: GFNRange) -> [OwnedRange] {
        var out: [OwnedRange] = []
        var cursor = extent.start
        func add(_ range: GFNRange, _ state: PageState) {
            guard !range.isEmpty else { return }
            if let last = out.last, last.state == state, last.range.end == range.start {
                out[out.count - 1].range.count += range.count
            } else {
                out.append(OwnedRange(range, state))
            }
        }
        for owned in ranges.sorted(by: { $0.range.start < $1.range.start }) {
            let start = max(owned.range.start, extent.start), end = min(owned.range.end, extent.end)
            guard start < end else { continue }
            if start > cursor { add(GFNRange(start: cursor, end: start), .host) }
            add(GFNRange(start: start, end: end), owned.state)
            cursor = end
        }
        if cursor < extent.end { add(GFNRange(start: cursor, end: extent.end), .host) }
        return out
    }

    /// The column's name under the map: "all RAM private", "share gfn 0x40086", "reclaim".
    public func label(pageSize: UInt64) -> String {
        switch point {
        case .created: "all RAM private"
        case .request(let request, let vcpu):
            "\(request.operation.rawValue) gfn \(hex(request.gpa / max(pageSize, 1)))"
                + (request.pages == 1 ? "" : " (\(request.pages) pages)") + (vcpu > 0 ? " by vCPU \(vcpu)" : "")
        case .ran: "run ended"
        case .teardown(let step): step.rawValue
        }
    }

    public var isTeardown: Bool {
        if case .teardown = point { true } else { false }
    }
}
