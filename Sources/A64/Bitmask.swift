/// The A64 bitmask-immediate expansion (`DecodeBitMasks` in the ARM ARM).
///
/// A logical immediate is an element of 2, 4, 8, 16, 32 or 64 bits holding a
/// rotated run of ones, replicated across the register. `N:imms` selects the
/// element size (the highest set bit of `N:NOT(imms)`) and the run length;
/// `immr` is the rotation. Encodings whose run would fill the whole element
/// (all ones) or whose size field is empty are reserved, which is why the
/// result is optional.
enum A64Bitmask {
    /// Expands a logical-immediate encoding to a `datasize`-bit value, or nil
    /// for a reserved encoding.
    static func decode(n: UInt32, imms: UInt32, immr: UInt32, is64: Bool) -> UInt64? {
        let combined = (n << 6) | (~imms & 0x3F)
        guard combined != 0 else { return nil }
        let length = 31 - combined.leadingZeroBitCount
        guard length >= 1 else { return nil }
        // A 64-bit element only exists in the 64-bit form (N = 1 is reserved for W).
        if !is64 && length == 6 { return nil }
        let levels = UInt32(ones(length))
        let s = imms & levels
        let r = immr & levels
        // s == levels would be an element of all ones, which no rotation makes
        // useful, so the architecture reserves it.
        guard s != levels else { return nil }
        let esize = 1 << length
        let welem = ones(Int(s) + 1)
        let element = rotateRight(welem, by: Int(r), width: esize)
        return replicate(element, width: esize, to: is64 ? 64 : 32)
    }

    /// Rotates the low `width` bits of `value` right by `amount`.
    static func rotateRight(_ value: UInt64, by amount: Int, width: Int) -> UInt64 {
        let mask = ones(width)
        let v = value & mask
        guard amount % width != 0 else { return v }
        let a = UInt64(amount % width)
        return ((v >> a) | (v << (UInt64(width) - a))) & mask
    }

    /// Repeats a `width`-bit element to fill `total` bits.
    static func replicate(_ element: UInt64, width: Int, to total: Int) -> UInt64 {
        var result: UInt64 = 0
        var position = 0
        while position < total {
            result |= element << UInt64(position)
            position += width
        }
        return result
    }
}
