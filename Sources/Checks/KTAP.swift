/// One KTAP result line's outcome (kselftest's vocabulary).
public enum CheckOutcome: Equatable, Sendable {
    case pass
    case fail(String)
    case skip(String)

    public var isFailure: Bool { if case .fail = self { true } else { false } }
}

/// Writes KTAP version 1 (Documentation/dev-tools/ktap.rst), the format
/// kselftest runners and CI lanes parse: a header, the plan, one line per
/// test, and the kselftest totals line.
public struct KTAPWriter {
    private let emit: (String) -> Void
    private var number = 0
    private(set) var passed = 0, failed = 0, skipped = 0

    public init(emit: @escaping (String) -> Void) {
        self.emit = emit
    }

    public mutating func begin(count: Int) {
        emit("KTAP version 1")
        emit("1..\(count)")
    }

    /// A diagnostic line (`# …`), e.g. what a check measured.
    public func diagnostic(_ text: String) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            emit("# \(line)")
        }
    }

    public mutating func result(_ name: String, _ outcome: CheckOutcome) {
        number += 1
        switch outcome {
        case .pass:
            passed += 1
            emit("ok \(number) \(name)")
        case .fail(let reason):
            failed += 1
            emit("not ok \(number) \(name) # \(KTAPWriter.oneLine(reason))")
        case .skip(let reason):
            skipped += 1
            emit("ok \(number) \(name) # SKIP \(KTAPWriter.oneLine(reason))")
        }
    }

    public func finish() {
        emit("# Totals: pass:\(passed) fail:\(failed) xfail:0 xpass:0 skip:\(skipped) error:0")
    }

    /// A directive must stay on its line.
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: "; ")
    }
}
