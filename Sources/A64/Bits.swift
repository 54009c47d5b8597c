// Bit-field helpers shared by the decoder and the executor.

extension UInt32 {
    /// The `width`-bit field starting at bit `low`.
    @inline(__always)
    func field(_ low: Int, _ width: Int) -> UInt32 {
        (self >> UInt32(low)) & ((1 << UInt32(width)) - 1)
    }

    /// Bit `index` as a Bool.
    @inline(__always)
    func bit(_ index: Int) -> Bool {
        (self >> UInt32(index)) & 1 != 0
    }
}

/// Sign-extends the low `bits` bits of `value` to 64 bits.
@inline(__always)
func signExtend(_ value: UInt64, bits: Int) -> Int64 {
    let shift = UInt64(64 - bits)
    return Int64(bitPattern: value << shift) >> shift
}

/// Sign-extends the low `bits` bits of an instruction field to 64 bits.
@inline(__always)
func signExtend(_ value: UInt32, bits: Int) -> Int64 {
    signExtend(UInt64(value), bits: bits)
}

/// A mask of the low `count` bits (0...64).
@inline(__always)
func ones(_ count: Int) -> UInt64 {
    count >= 64 ? ~0 : (1 << UInt64(count)) &- 1
}

/// Formats a value as `0x…` in lower-case hexadecimal, zero-padded to `digits`.
func hex<T: BinaryInteger>(_ value: T, digits: Int = 1) -> String {
    let text = String(value, radix: 16)
    let padding = max(0, digits - text.count)
    return "0x" + String(repeating: "0", count: padding) + text
}
