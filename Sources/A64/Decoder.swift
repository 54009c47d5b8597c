/// Turns 32-bit A64 instruction words into ``A64Instruction`` values.
///
/// The top-level split follows the ARM ARM's "A64 instruction set encoding"
/// table on `op0` (bits 28:25); each group has its own file. Every path ends in
/// a case or in ``A64Instruction/unsupported(_:)``: decoding never traps.
public enum A64Decoder {
    /// Decodes one instruction word.
    public static func decode(_ word: UInt32) -> A64Instruction {
        switch word.field(25, 4) {
        case 0b0000:
            // UDF is the only allocated encoding in the reserved group.
            if word >> 16 == 0 { return .udf(UInt16(word & 0xFFFF)) }
            return .unsupported(word)
        case 0b1000, 0b1001:
            return decodeDataProcessingImmediate(word)
        case 0b1010, 0b1011:
            return decodeBranchSystem(word)
        case 0b0100, 0b0110, 0b1100, 0b1110:
            return decodeLoadStore(word)
        case 0b0101, 0b1101:
            return decodeDataProcessingRegister(word)
        default:
            // SIMD/FP (x111), SVE and SME (0010, 0011, 0001) are outside the base
            // integer ISA this interpreter models.
            return .unsupported(word)
        }
    }
}
