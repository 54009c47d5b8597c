import Ownership

/// The picture of guest RAM ownership over a run, as SVG (Docs/trace.md):
/// one column per point of the run (`OwnershipTimeline.Column`: all RAM made
/// private, each listed share/unshare, the end of the run, each teardown
/// step) across, guest frames down, each range coloured by its state.
///
/// Drawn from the ledger's runs, never per page: a range that stays the same
/// over neighbouring columns is one rectangle, so the file grows with the
/// number of changes and runs, not with the guest's size. The frame axis
/// gives every range between two boundaries the ledger ever had at least a
/// few pixels (a 1-page shared range in a 1 GiB guest stays visible), and is
/// linear only when there are too many ranges for that.
public struct OwnershipMap {
    public let picture: OwnershipTimeline.Picture

    public init(_ picture: OwnershipTimeline.Picture) {
        self.picture = picture
    }

    /// One rectangle of the map: `range` in `state` from column `first` to `last`.
    public struct Block: Equatable, Sendable {
        public var range: GFNRange
        public var state: PageState
        public var first: Int
        public var last: Int
    }

    static let width = 1000.0, plotLeft = 110.0, plotRight = 770.0, plotTop = 100.0, plotHeight = 400.0
    static var plotBottom: Double { plotTop + plotHeight }
    static let height = 720.0
    /// The tallest a range's minimum height gets (pixels).
    static let minimumBand = 14.0

    static func colour(_ state: PageState) -> String {
        switch state {
        case .private: "#7b3294"
        case .shared: "#f4a300"
        case .reclaimed: "#67a9cf"
        case .host: "#d9d9d9"
        }
    }

    static func legend(_ state: PageState) -> String {
        switch state {
        case .private: "private: the guest's alone"
        case .shared: "shared: lent to the host"
        case .reclaimed: "reclaimed: host-owned again"
        case .host: "host: relinquished by the guest, or not guest RAM"
        }
    }

    /// Guest RAM, or the frames the columns cover when it is unknown.
    var extent: GFNRange? {
        if let ram = picture.ram, !ram.isEmpty { return ram }
        let all = picture.columns.flatMap(\.ranges).map(\.range)
        guard let low = all.map(\.start).min(), let high = all.map(\.end).max() else { return nil }
        return GFNRange(start: low, end: high)
    }

    /// The rectangles: each column's pieces, merged across columns while a
    /// piece stays the same.
    public var blocks: [Block] {
        guard let extent else { return [] }
        var blocks: [Block] = []
        var open: [OwnedRange: Int] = [:]
        for (index, column) in picture.columns.enumerated() {
            var next: [OwnedRange: Int] = [:]
            for piece in column.pieces(in: extent) {
                if let at = open[piece], blocks[at].last == index - 1 {
                    blocks[at].last = index
                    next[piece] = at
                } else {
                    blocks.append(Block(range: piece.range, state: piece.state, first: index, last: index))
                    next[piece] = blocks.count - 1
                }
            }
            open = next
        }
        return blocks
    }

    public var svg: String {
        var svg = SVGWriter(width: Self.width, height: Self.height)
        let guest = picture.guest ?? "guest"
        let platform = picture.platform.map { " on \($0)" } ?? ""
        svg.text("Guest RAM ownership: \(guest)\(platform)", x: Self.plotLeft, y: 28, size: 17, weight: "bold")
        guard let extent, !picture.columns.isEmpty else {
            svg.text("No ownership was recorded: the run ended before guest memory was made private.", x: Self.plotLeft, y: 56, size: 13)
            drawNotes(&svg, top: 80)
            return svg.finish()
        }
        let axis = FrameAxis(extent: extent, boundaries: picture.columns.flatMap(\.ranges).flatMap { [$0.range.start, $0.range.end] },
                             top: Self.plotTop, height: Self.plotHeight, minimumBand: Self.minimumBand)
        let pages = extent.count
        let bytes = pages * picture.pageSize
        let scale = axis.isLinear ? "frames to scale" : "frame axis not to scale: every range is at least \(Int(axis.band)) px tall"
        svg.text("\(Self.size(bytes)) of guest RAM, \(pages) pages of \(picture.pageSize / 1024) KiB; \(picture.columns.count) points of the run, left to right; \(scale)",
                 x: Self.plotLeft, y: 50, size: 12, fill: "#444")

        let count = Double(picture.columns.count)
        func x(_ column: Int) -> Double { Self.plotLeft + (Self.plotRight - Self.plotLeft) * Double(column) / count }

        svg.open("g", [("id", "blocks"), ("shape-rendering", "crispEdges")])
        for block in blocks {
            let top = axis.y(block.range.start), bottom = axis.y(block.range.end)
            let from = picture.columns[block.first].label(pageSize: picture.pageSize)
            let to = picture.columns[block.last].label(pageSize: picture.pageSize)
            svg.rect(x: x(block.first), y: top, width: x(block.last + 1) - x(block.first), height: bottom - top,
                     fill: Self.colour(block.state),
                     data: [("state", block.state.rawValue), ("gfn", hex(block.range.start)), ("pages", String(block.range.count)),
                            ("first", String(block.first)), ("last", String(block.last))],
                     title: "\(block.range) \(block.state.rawValue), \(block.range.count) page\(block.range.count == 1 ? "" : "s"): \(from) → \(to)")
        }
        svg.close("g")
        // Column boundaries, faintly, where columns are wide enough to see them.
        if picture.columns.count <= 150 {
            for column in 1..<picture.columns.count {
                svg.line(x1: x(column), y1: Self.plotTop, x2: x(column), y2: Self.plotBottom, stroke: "#ffffff", width: 0.75, opacity: 0.7)
            }
        }
        svg.rectOutline(x: Self.plotLeft, y: Self.plotTop, width: Self.plotRight - Self.plotLeft, height: Self.plotHeight)

        drawFrameAxis(&svg, axis)
        drawPhases(&svg, x)
        drawColumnLabels(&svg, x)
        drawLegend(&svg)
        drawNotes(&svg, top: 248)
        for (number, note) in picture.notes.enumerated() {
            let at = x(max(0, note.column + 1))
            svg.line(x1: at, y1: Self.plotTop - 6, x2: at, y2: Self.plotBottom, stroke: "#d7191c", width: 1.5, opacity: 1)
            svg.text("\(number + 1)", x: at + 3, y: Self.plotTop - 8, size: 11, weight: "bold", fill: "#d7191c")
        }
        svg.text("guest frame number (gfn), ascending", x: 0, y: 0, size: 12, anchor: "middle",
                 transform: "translate(22 \(Self.plotTop + Self.plotHeight / 2)) rotate(-90)")
        svg.text("points of the run in order (time since the run started)", x: (Self.plotLeft + Self.plotRight) / 2,
                 y: Self.height - 14, size: 12, anchor: "middle")
        return svg.finish()
    }

    private func drawFrameAxis(_ svg: inout SVGWriter, _ axis: FrameAxis) {
        var lastLabel = -Double.infinity
        let ticks = axis.ticks
        for (index, gfn) in ticks.enumerated() {
            let y = axis.y(gfn)
            let isLast = index == ticks.count - 1
            guard y - lastLabel >= 12 || isLast else { continue }
            if isLast && y - lastLabel < 12 { continue }
            svg.line(x1: Self.plotLeft - 5, y1: y, x2: Self.plotLeft, y2: y, stroke: "#333", width: 1, opacity: 1)
            svg.text(hex(gfn), x: Self.plotLeft - 8, y: y + 4, size: 11, anchor: "end", family: "monospace")
            lastLabel = y
        }
    }

    /// Brackets over the columns: boot (all RAM private), the guest running,
    /// teardown (each step its own column), and a dashed line where teardown starts.
    private func drawPhases(_ svg: inout SVGWriter, _ x: (Int) -> Double) {
        let columns = picture.columns
        let teardown = columns.indices.filter { columns[$0].isTeardown }
        let ran = columns.lastIndex { $0.point == .ran }
        let created = columns.firstIndex { $0.point == .created }
        func bracket(_ first: Int, _ last: Int, _ label: String, _ colour: String) {
            let left = x(first) + 1, right = x(last + 1) - 1, y = Self.plotTop - 16
            svg.line(x1: left, y1: y, x2: right, y2: y, stroke: colour, width: 1.5, opacity: 1)
            svg.line(x1: left, y1: y, x2: left, y2: y + 6, stroke: colour, width: 1.5, opacity: 1)
            svg.line(x1: right, y1: y, x2: right, y2: y + 6, stroke: colour, width: 1.5, opacity: 1)
            svg.text(label, x: (left + right) / 2, y: y - 5, size: 12, weight: "bold", anchor: "middle", fill: colour)
        }
        if let created { bracket(created, created, "boot", "#555") }
        let runFirst = (created ?? -1) + 1
        let runLast = ran ?? (teardown.first.map { $0 - 1 } ?? columns.count - 1)
        if runLast >= runFirst { bracket(runFirst, runLast, "guest running", "#555") }
        if let first = teardown.first, let last = teardown.last {
            bracket(first, last, "teardown", "#b2182b")
            svg.line(x1: x(first), y1: Self.plotTop - 16, x2: x(first), y2: Self.plotBottom + 4, stroke: "#b2182b", width: 1.5,
                     opacity: 1, dash: "5 3")
        }
    }

    /// Each column's name and time, turned to fit; with many columns only as
    /// many as fit (the boot, the end of the run and the teardown steps first).
    private func drawColumnLabels(_ svg: inout SVGWriter, _ x: (Int) -> Double) {
        let columns = picture.columns
        let spacing = 13.0
        var chosen = Set<Int>()
        func fits(_ index: Int) -> Bool {
            chosen.allSatisfy { abs(x($0) - x(index)) >= spacing }
        }
        for index in columns.indices where columns[index].isTeardown || columns[index].point == .ran || columns[index].point == .created {
            if fits(index) { chosen.insert(index) }
        }
        for index in columns.indices where fits(index) { chosen.insert(index) }
        for (index, column) in columns.enumerated() {
            let point: String = switch column.point {
            case .created: "created"
            case .request: "request"
            case .ran: "ran"
            case .teardown: "teardown"
            }
            svg.open("g", [("data-column", String(index)), ("data-point", point), ("data-time-ns", String(column.time))])
            if chosen.contains(index) {
                let centre = (x(index) + x(index + 1)) / 2
                var label = "\(column.label(pageSize: picture.pageSize)) · \(Self.duration(column.time))"
                if column.failure != nil { label = "✗ " + label + " FAILED" }
                svg.text(label, x: 0, y: 0, size: 11, weight: column.isTeardown ? "bold" : "normal", anchor: "end",
                         fill: column.failure != nil ? "#d7191c" : (column.isTeardown ? "#b2182b" : "#222"),
                         transform: "translate(\(SVGWriter.number(centre + 4)) \(SVGWriter.number(Self.plotBottom + 10))) rotate(-55)",
                         title: column.failure)
            }
            svg.close("g")
        }
    }

    private func drawLegend(_ svg: inout SVGWriter) {
        let left = Self.plotRight + 24
        svg.text("page owner", x: left, y: Self.plotTop + 4, size: 13, weight: "bold")
        for (index, state) in [PageState.private, .shared, .reclaimed, .host].enumerated() {
            let y = Self.plotTop + 18 + Double(index) * 24
            svg.rect(x: left, y: y, width: 16, height: 16, fill: Self.colour(state), data: [], title: nil, stroke: "#555")
            svg.text(Self.legend(state), x: left + 22, y: y + 12, size: 11)
        }
    }

    private func drawNotes(_ svg: inout SVGWriter, top: Double) {
        var lines: [(String, Bool)] = []
        if picture.unlistedRequests > 0 {
            lines.append(("\(picture.unlistedRequests) share/unshare requests past the listed ones were answered but are not drawn one by one", false))
        }
        for (number, note) in picture.notes.enumerated() { lines.append(("\(number + 1). \(note.text)", true)) }
        guard !lines.isEmpty else { return }
        let left = picture.columns.isEmpty ? Self.plotLeft : Self.plotRight + 24
        let width = picture.columns.isEmpty ? 120 : 34
        svg.text("notes", x: left, y: top, size: 13, weight: "bold", fill: "#d7191c")
        var y = top + 18
        for (text, _) in lines.prefix(12) {
            for line in Self.wrap(text, width: width).prefix(4) {
                svg.text(line, x: left, y: y, size: 11, fill: "#d7191c")
                y += 14
            }
            y += 4
        }
    }

    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        var current = ""
        for word in text.split(separator: " ") {
            if !current.isEmpty && current.count + 1 + word.count > width {
                lines.append(current)
                current = ""
            }
            current += (current.isEmpty ? "" : " ") + word
        }
        if !current.isEmpty { lines.append(current) }
        return lines
    }

    static func duration(_ nanoseconds: UInt64) -> String {
        if nanoseconds >= 1_000_000_000 { return "\(SVGWriter.number(Double(nanoseconds) / 1e9, digits: 2)) s" }
        if nanoseconds >= 1_000_000 { return "\(SVGWriter.number(Double(nanoseconds) / 1e6, digits: 2)) ms" }
        return "\(nanoseconds / 1000) µs"
    }

    static func size(_ bytes: UInt64) -> String {
        for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift) \(unit)"
        }
        return "\(bytes) bytes"
    }
}
