/// Turns each vCPU's console bytes into lines: `\n` ends a line, `\r` is
/// dropped, and a guest that never ends its line gets it cut at 4096 bytes so
/// memory stays bounded.
struct ConsoleAssembler {
    static let longestLine = 4096
    private var buffers: [Int: [UInt8]] = [:]

    /// The lines `bytes` completes on `vcpu`.
    mutating func append(_ bytes: [UInt8], vcpu: Int) -> [String] {
        var lines: [String] = []
        var buffer = buffers[vcpu, default: []]
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                lines.append(String(decoding: buffer, as: UTF8.self))
                buffer.removeAll(keepingCapacity: true)
            } else if byte != UInt8(ascii: "\r") {
                buffer.append(byte)
                if buffer.count >= Self.longestLine {
                    lines.append(String(decoding: buffer, as: UTF8.self))
                    buffer.removeAll(keepingCapacity: true)
                }
            }
        }
        buffers[vcpu] = buffer
        return lines
    }

    /// The unterminated rest of `vcpu`'s output, as a line (the vCPU stopped).
    mutating func flush(vcpu: Int) -> String? {
        let pending = buffers[vcpu] ?? []
        buffers[vcpu] = []
        return pending.isEmpty ? nil : String(decoding: pending, as: UTF8.self)
    }
}
