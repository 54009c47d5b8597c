/// What `pvmh bench` measured: figures of rows, each a ratio or a value
/// with its spread, or the reason it could not be measured here. Plain
/// data: the CLI formats it (table or JSON).
public struct BenchReport: Sendable {
    public var quick: Bool
    public var machine: MachineDescription
    public var figures: [BenchFigure]

    public init(quick: Bool, machine: MachineDescription, figures: [BenchFigure]) {
        self.quick = quick
        self.machine = machine
        self.figures = figures
    }

    /// Every row's key, in order (the smoke test checks none is missing).
    public var rowKeys: [String] { figures.flatMap { $0.rows.map(\.key) } }
}

/// One numbered figure of Docs/benchmarks.md.
public struct BenchFigure: Sendable {
    public var number: Int
    /// Short stable id, e.g. `lifecycle`.
    public var id: String
    public var title: String
    public var rows: [BenchRow]

    public init(number: Int, id: String, title: String, rows: [BenchRow]) {
        self.number = number
        self.id = id
        self.title = title
        self.rows = rows
    }
}

/// A goal a ratio is held to.
public enum BenchGoal: Sendable, Equatable, CustomStringConvertible {
    case atMost(Double)
    case atLeast(Double)

    public func isMet(by value: Double) -> Bool {
        switch self {
        case .atMost(let limit): value <= limit
        case .atLeast(let limit): value >= limit
        }
    }

    public var description: String {
        switch self {
        case .atMost(let limit): "≤ \(limit)"
        case .atLeast(let limit): "≥ \(limit)"
        }
    }
}

/// One line of a figure.
public struct BenchRow: Sendable {
    public enum Measurement: Sendable {
        /// A dimensionless ratio of two contenders measured in the same run.
        case ratio(Summary)
        /// An absolute value in `unit` (time per operation, rate, bytes).
        case value(Summary, unit: String)
        /// Not measured here, and why (no /dev/kvm, QEMU missing, …).
        case skipped(String)
    }

    /// Stable id, e.g. `lifecycle.pvmh-full/c`.
    public var key: String
    /// What is compared, e.g. "pvmh lifecycle (full verification) / C baseline".
    public var label: String
    public var measurement: Measurement
    public var goal: BenchGoal?
    /// The absolute medians behind a ratio, or how a value was obtained.
    public var note: String

    public init(key: String, label: String, measurement: Measurement, goal: BenchGoal? = nil, note: String = "") {
        self.key = key
        self.label = label
        self.measurement = measurement
        self.goal = goal
        self.note = note
    }

    /// Whether the median meets the goal; nil without a goal or a ratio.
    public var goalMet: Bool? {
        guard let goal, case .ratio(let summary) = measurement else { return nil }
        return goal.isMet(by: summary.median)
    }
}

/// Where the figures were measured.
public struct MachineDescription: Sendable {
    public var cpu: String
    public var cores: Int
    public var memoryBytes: UInt64
    public var kernel: String
    /// 1/5/15-minute load averages when the run started and when it ended.
    public var loadBefore: [Double]
    public var loadAfter: [Double]
    /// Seconds since the epoch (UTC) at the start.
    public var startedAt: Int
    /// `debug` or `release`: how this pvmh was compiled.
    public var build: String

    public init(cpu: String, cores: Int, memoryBytes: UInt64, kernel: String, loadBefore: [Double], loadAfter: [Double],
                startedAt: Int, build: String) {
        self.cpu = cpu
        self.cores = cores
        self.memoryBytes = memoryBytes
        self.kernel = kernel
        self.loadBefore = loadBefore
        self.loadAfter = loadAfter
        self.startedAt = startedAt
        self.build = build
    }
}
