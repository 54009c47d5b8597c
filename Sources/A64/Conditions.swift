// Condition flags: how instructions set NZCV and how conditions read it.

extension A64CPU {
    static let flagN: UInt64 = 1 << 31
    static let flagZ: UInt64 = 1 << 30
    static let flagC: UInt64 = 1 << 29
    static let flagV: UInt64 = 1 << 28

    /// `ConditionHolds` from the ARM ARM: bits 3:1 pick the test, bit 0 inverts
    /// it, except that 1111 (NV) is "always" just like 1110 (AL).
    @inline(__always)
    func conditionHolds(_ cond: A64Condition) -> Bool {
        let flags = nzcv
        let n = flags & Self.flagN != 0
        let z = flags & Self.flagZ != 0
        let c = flags & Self.flagC != 0
        let v = flags & Self.flagV != 0
        let result: Bool
        switch cond.rawValue >> 1 {
        case 0: result = z
        case 1: result = c
        case 2: result = n
        case 3: result = v
        case 4: result = c && !z
        case 5: result = n == v
        case 6: result = !z && n == v
        default: return true
        }
        return cond.rawValue & 1 == 1 ? !result : result
    }

    /// `AddWithCarry` from the ARM ARM at 32 or 64 bits, optionally setting NZCV.
    ///
    /// Subtraction is `x + NOT(y) + 1`, so C is "no borrow" and SUBS/CMP set C
    /// when x >= y unsigned; V is signed overflow: both addends have the same
    /// sign and the result's differs.
    @inline(__always)
    func addWithCarry(_ x: UInt64, _ y: UInt64, carry: UInt64, is64: Bool, setFlags: Bool) -> UInt64 {
        if is64 {
            let (partial, carry1) = x.addingReportingOverflow(y)
            let (result, carry2) = partial.addingReportingOverflow(carry)
            if setFlags {
                let c: UInt64 = carry1 || carry2 ? Self.flagC : 0
                let v = (((x ^ result) & (y ^ result)) >> 63) << 28
                nzcv = (result >> 63) << 31 | (result == 0 ? Self.flagZ : 0) | c | v
            }
            return result
        }
        let x32 = x & 0xFFFF_FFFF
        let y32 = y & 0xFFFF_FFFF
        let sum = x32 &+ y32 &+ carry
        let result = sum & 0xFFFF_FFFF
        if setFlags {
            let c = (sum >> 32) << 29
            let v = (((x32 ^ result) & (y32 ^ result)) >> 31 & 1) << 28
            nzcv = (result & Self.flagN) | (result == 0 ? Self.flagZ : 0) | c | v
        }
        return result
    }

    /// N and Z from a logical result; C and V are cleared, as ANDS/BICS/TST define.
    @inline(__always)
    func setLogicalFlags(_ result: UInt64, is64: Bool) {
        let n = is64 ? result >> 63 : (result >> 31) & 1
        let zero = is64 ? result == 0 : result & 0xFFFF_FFFF == 0
        nzcv = n << 31 | (zero ? Self.flagZ : 0)
    }

    /// PSTATE.C as 0 or 1, the carry-in of ADC/SBC.
    @inline(__always)
    var carryFlag: UInt64 { (nzcv >> 29) & 1 }
}
