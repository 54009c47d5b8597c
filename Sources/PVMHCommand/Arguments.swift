/// A bad command line: exit code 2 and one sentence saying what to do.
public struct UsageError: Error, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A small scanner for `command [positional…] [--flag] [--option value|--option=value]`.
/// pvmh has no package dependencies, so no ArgumentParser.
struct Arguments {
    private var remaining: [String]
    let command: String

    init(_ arguments: [String], command: String) {
        remaining = arguments
        self.command = command
    }

    /// Removes `--name` if present.
    mutating func flag(_ name: String) -> Bool {
        guard let index = remaining.firstIndex(of: name) else { return false }
        remaining.remove(at: index)
        return true
    }

    /// Removes `--name VALUE` or `--name=VALUE`.
    mutating func option(_ name: String) throws(UsageError) -> String? {
        if let index = remaining.firstIndex(where: { $0.hasPrefix(name + "=") }) {
            let value = String(remaining[index].dropFirst(name.count + 1))
            remaining.remove(at: index)
            return value
        }
        guard let index = remaining.firstIndex(of: name) else { return nil }
        guard index + 1 < remaining.count, !remaining[index + 1].hasPrefix("--") else {
            throw UsageError("\(name) needs a value; see `pvmh \(command) --help`")
        }
        let value = remaining[index + 1]
        remaining.removeSubrange(index...index + 1)
        return value
    }

    /// What is left once options are taken: positional arguments. Unknown
    /// `--options` are an error naming the option.
    mutating func positionals(max: Int) throws(UsageError) -> [String] {
        if let unknown = remaining.first(where: { $0.hasPrefix("-") && $0 != "-" }) {
            throw UsageError("unknown option \(unknown) for `pvmh \(command)`; see `pvmh \(command) --help`")
        }
        guard remaining.count <= max else {
            throw UsageError("`pvmh \(command)` takes at most \(max) argument\(max == 1 ? "" : "s"), got \(remaining.joined(separator: " ")); see `pvmh \(command) --help`")
        }
        defer { remaining = [] }
        return remaining
    }
}

/// Parses user-facing values, each with its valid range in the error.
enum ValueParser {
    /// "4M", "4MiB", "64m", "1G", "2097152" → bytes; page aligned, within limits.
    static func memorySize(_ text: String, minimum: UInt64, maximum: UInt64, pageSize: UInt64 = 4096) throws(UsageError) -> UInt64 {
        let lower = text.lowercased()
        let digits = lower.prefix { $0.isNumber }
        var unit = lower.dropFirst(digits.count)
        if unit.hasSuffix("ib") { unit = unit.dropLast(2) } else if unit.hasSuffix("b") && unit.count > 1 { unit = unit.dropLast() }
        let shift: UInt64? = switch unit {
        case "", "b": 0
        case "k": 10
        case "m": 20
        case "g": 30
        case "t": 40
        default: nil
        }
        let valid = "use a size such as 4M, 64MiB or 1G between \(Format.bytes(minimum)) and \(Format.bytes(maximum))"
        guard !digits.isEmpty, let shift, let number = UInt64(digits) else {
            throw UsageError("--memory \(text) is not a size; \(valid)")
        }
        let (bytes, overflow) = number.multipliedReportingOverflow(by: 1 << shift)
        guard !overflow, bytes >= minimum, bytes <= maximum else {
            throw UsageError("--memory \(text) is out of range; \(valid)")
        }
        guard bytes % pageSize == 0 else {
            throw UsageError("--memory \(text) is not a multiple of the \(pageSize)-byte page size; \(valid)")
        }
        return bytes
    }

    /// A vCPU count: a whole number from 1 to `maximum` (the largest any
    /// platform runs; the platform's own limit is checked once it is known).
    static func vcpuCount(_ text: String, maximum: Int) throws(UsageError) -> Int {
        guard let value = Int(text), value >= 1, value <= maximum else {
            throw UsageError("--vcpus \(text) is not a vCPU count; give a whole number from 1 to \(maximum) (pvmh runs up to \(maximum) on every platform)")
        }
        return value
    }

    /// A guest physical address: `0x40080000` or decimal, below 2^64.
    static func address(_ text: String, option: String) throws(UsageError) -> UInt64 {
        let lower = text.lowercased()
        let value = lower.hasPrefix("0x") ? UInt64(lower.dropFirst(2), radix: 16) : UInt64(lower, radix: 10)
        guard let value else {
            throw UsageError("\(option) \(text) is not an address; give a guest physical address from 0 to 0xffffffffffffffff in hex (0x40080000) or decimal")
        }
        return value
    }

    /// Seconds, positive and at most a day.
    static func seconds(_ text: String) throws(UsageError) -> Double {
        guard let value = Double(text), value.isFinite, value > 0, value <= 86_400 else {
            throw UsageError("--timeout \(text) is not a duration; give seconds between 0.001 and 86400, such as --timeout 5")
        }
        return value
    }
}
