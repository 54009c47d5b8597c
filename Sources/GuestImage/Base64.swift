/// Base64 (RFC 4648, standard alphabet) decoding for the generated guest images.
///
/// The built-in guests are embedded as base64 string literals rather than
/// `[UInt8]` array literals because a 25 KB array literal takes the type
/// checker seconds, while a string literal costs nothing. This decoder exists
/// so GuestImage needs no Foundation.
enum Base64 {
    /// The bytes `text` encodes, or nil if it is not valid base64.
    ///
    /// ASCII whitespace (the line breaks of a multi-line literal) is skipped.
    /// Padding is required: the significant characters must come in groups of
    /// four, and `=` may appear only at the end of the last group.
    static func decode(_ text: String) -> [UInt8]? {
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count / 4 * 3)
        var group: UInt32 = 0
        var groupLength = 0
        var padding = 0             // `=` seen in the current group
        var finished = false        // a padded group ended the data

        for character in text.utf8 {
            switch character {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"):
                continue
            case _ where finished:
                return nil
            case UInt8(ascii: "="):
                guard groupLength >= 2 else { return nil }
                padding += 1
                group <<= 6
                groupLength += 1
            default:
                guard padding == 0, let value = sextet(character) else { return nil }
                group = group << 6 | UInt32(value)
                groupLength += 1
            }
            if groupLength == 4 {
                output.append(UInt8(truncatingIfNeeded: group >> 16))
                if padding < 2 { output.append(UInt8(truncatingIfNeeded: group >> 8)) }
                if padding < 1 { output.append(UInt8(truncatingIfNeeded: group)) }
                finished = padding > 0
                group = 0
                groupLength = 0
                padding = 0
            }
        }
        return groupLength == 0 ? output : nil
    }

    private static func sextet(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): character - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): character - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }
}
