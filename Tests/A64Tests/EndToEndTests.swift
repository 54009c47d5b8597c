import Testing
@testable import A64

/// Whole programs: a hand-written recursive one and compiler output.
struct EndToEndTests {
    @Test("recursive Fibonacci with stack frames ends in HVC with fib(20)")
    func fibonacci() {
        let machine = TestMachine(TestPrograms.fibonacci)
        #expect(machine.run(limit: 1_000_000) == .hvc(0))
        #expect(machine.cpu[x: 19] == 6765)
        #expect(machine.cpu.sp == TestMachine.stackTop)
    }

    /// `clang --target=aarch64-none-elf -O2 -mgeneral-regs-only -ffreestanding
    /// -fno-pic`, linked at 0x40000000 with ld.lld and flattened with
    /// `llvm-objcopy -O binary`, of this entry stub and C file:
    ///
    /// ```
    /// _start: bl crc32; mov w21, w0
    ///         mov x0, x22; mov x1, x23; bl sort
    ///         mov w0, w24; mov w1, w25; bl mix; mov x26, x0
    ///         hvc #0
    /// ```
    /// ```c
    /// /* Test guest for the A64 interpreter: compiled with
    ///  * clang --target=aarch64-none-elf -O2 -mgeneral-regs-only -ffreestanding. */
    /// typedef unsigned long u64;
    /// typedef unsigned int u32;
    /// typedef unsigned char u8;
    ///
    /// /* Bitwise reflected CRC-32 (IEEE 802.3), as zlib's crc32(). */
    /// u32 crc32(const u8 *p, u64 n) {
    ///     u32 crc = 0xFFFFFFFFu;
    ///     while (n--) {
    ///         crc ^= *p++;
    ///         for (int k = 0; k < 8; k++)
    ///             crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1));
    ///     }
    ///     return ~crc;
    /// }
    ///
    /// /* Insertion sort of signed 64-bit values. */
    /// void sort(long *a, u64 n) {
    ///     for (u64 i = 1; i < n; i++) {
    ///         long v = a[i];
    ///         u64 j = i;
    ///         while (j > 0 && a[j - 1] > v) {
    ///             a[j] = a[j - 1];
    ///             j--;
    ///         }
    ///         a[j] = v;
    ///     }
    /// }
    ///
    /// /* A dense switch (a jump table), signed division and modulo. Arithmetic that
    ///  * could overflow is done unsigned so the C has no undefined behaviour. */
    /// static int classify(int x) {
    ///     switch (x & 15) {
    ///     case 0: return x / 3;
    ///     case 1: return (int)(0u - (unsigned)x);
    ///     case 2: return (int)((unsigned)x * 7u + 1u);
    ///     case 3: return x % 11;
    ///     case 4: return x >> 2;
    ///     case 5: return (int)((unsigned)(x ^ 0x5A5A) - 9u);
    ///     case 6: return (int)((unsigned)x << 3);
    ///     case 7: return x / -5;
    ///     case 8: return (int)((unsigned)x >> 7);
    ///     case 9: return x | 0x100;
    ///     case 10: return x & 0xFF0;
    ///     case 11: return (int)((unsigned)x - 1000u);
    ///     case 12: return x % 97;
    ///     case 13: return ~x;
    ///     default: return 17;
    ///     }
    /// }
    ///
    /// long mix(int seed, int count) {
    ///     long acc = 0;
    ///     int x = seed;
    ///     for (int i = 0; i < count; i++) {
    ///         acc += classify(x);
    ///         x = (int)((unsigned)x * 1103515245u + 12345u);
    ///     }
    ///     return acc;
    /// }
    /// ```
    static let compiledGuest: [UInt32] = [
        0x9400_000A, 0x2A00_03F5, 0xAA16_03E0, 0xAA17_03E1, 0x9400_0034, 0x2A18_03E0,
        0x2A19_03E1, 0x9400_0049, 0xAA00_03FA, 0xD400_0002, 0xB400_0581, 0x5290_6408,
        0x5298_8329, 0x5291_064A, 0x5282_0C8B, 0x5284_190C, 0x5288_320D, 0x1280_000E,
        0x72BD_B708, 0x72A0_EDA9, 0x72A1_DB6A, 0x72A3_B6EB, 0x72A7_6DCC, 0x72AE_DB8D,
        0x3840_140F, 0xF100_0421, 0x4A0F_01CE, 0x1300_01CF, 0x5302_05D0, 0x5303_09D1,
        0x5304_0DD2, 0x5305_11C2, 0x0A08_01EF, 0x0A90_7D10, 0x0A91_7D31, 0x4A4E_05EF,
        0x5306_15CE, 0x0A92_7D52, 0x0A82_7D62, 0x4A4F_0610, 0x0A8E_7D8E, 0x5306_15EF,
        0x4A12_0052, 0x4A50_1A31, 0x5306_1610, 0x4A12_01CE, 0x0A8F_7DAF, 0x4A11_01CE,
        0x0A90_7D10, 0x4A0E_01EE, 0x4A0E_020E, 0x54FF_FCA1, 0x2A2E_03E0, 0xD65F_03C0,
        0x2A1F_03E0, 0xD65F_03C0, 0xF100_083F, 0x5400_02C3, 0xAA1F_03E8, 0x5280_0029,
        0x1400_0007, 0x9100_056B, 0x9100_0529, 0x9100_0508, 0xF82B_780A, 0xEB01_013F,
        0x5400_01A0, 0xF869_780A, 0xAA08_03EB, 0x8B0B_0C0C, 0xF940_018D, 0xEB0A_01BF,
        0x54FF_FEAD, 0xD100_056B, 0xF900_058D, 0xB100_057F, 0x54FF_FF21, 0xAA1F_03EB,
        0x17FF_FFF0, 0xD65F_03C0, 0x7100_043F, 0x5400_092B, 0x5289_CDA9, 0x528A_AACC,
        0x5294_5D2D, 0x5280_FD71, 0x2A00_03E8, 0xAA1F_03E0, 0x72A8_38C9, 0x5286_072A,
        0xD503_201F, 0x1000_082B, 0x72AA_AAAC, 0x72A5_D16D, 0x5280_016E, 0x528B_4B4F,
        0x3201_E7F0, 0x72A2_A3B1, 0x5280_0C32, 0x1400_0006, 0x510F_A102, 0x1B09_2908,
        0x8B22_C000, 0x7100_0421, 0x5400_0660, 0x1200_0D02, 0x7100_345F, 0x5400_05A8,
        0x10FF_FF03, 0x3862_6964, 0x8B04_0863, 0xD61F_0060, 0x9B2C_7D02, 0xD37F_FC43,
        0xD360_FC42, 0x0B03_0042, 0x17FF_FFF1, 0x1302_7D02, 0x17FF_FFEF, 0x9B31_7D02,
        0x9363_FC42, 0x0B42_7C42, 0x1B12_A042, 0x17FF_FFEA, 0x3218_0102, 0x17FF_FFE8,
        0x531D_7102, 0x4B08_0042, 0x1100_0442, 0x17FF_FFE4, 0x9B2D_7D02, 0x9361_FC42,
        0x0B42_7C42, 0x1B0E_A042, 0x17FF_FFDF, 0x9B30_7D02, 0x9361_FC42, 0x0B42_7C42,
        0x17FF_FFDB, 0x4B08_03E2, 0x17FF_FFD9, 0x4A0F_0102, 0x5100_2442, 0x17FF_FFD6,
        0x2A28_03E2, 0x17FF_FFD4, 0x531D_7102, 0x17FF_FFD2, 0x121C_1D02, 0x17FF_FFD0,
        0x5307_7D02, 0x17FF_FFCE, 0x5280_0222, 0x17FF_FFCC, 0xAA1F_03E0, 0xD65F_03C0,
        0x1E1A_270C, 0x232E_2911, 0x0030_1832, 0x0000_2C13,
    ]

    // The same computations in Swift, with C's wrapping unsigned arithmetic
    // spelled as Swift's wrapping operators.

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
        }
        return ~crc
    }

    static func classify(_ x: Int32) -> Int32 {
        switch x & 15 {
        case 0: x / 3
        case 1: 0 &- x
        case 2: x &* 7 &+ 1
        case 3: x % 11
        case 4: x >> 2
        case 5: (x ^ 0x5A5A) &- 9
        case 6: x &<< 3
        case 7: x / -5
        case 8: Int32(bitPattern: UInt32(bitPattern: x) >> 7)
        case 9: x | 0x100
        case 10: x & 0xFF0
        case 11: x &- 1000
        case 12: x % 97
        case 13: ~x
        default: 17
        }
    }

    static func mix(seed: Int32, count: Int32) -> Int64 {
        var acc: Int64 = 0
        var x = seed
        for _ in 0..<max(count, 0) {
            acc &+= Int64(classify(x))
            x = x &* 1_103_515_245 &+ 12345
        }
        return acc
    }

    @Test("clang -O2 output: CRC-32, insertion sort and a jump-table switch agree with Swift")
    func compiledC() {
        let message = Array("The quick brown fox jumps over the lazy dog".utf8)
        // A deterministic scramble with negatives, duplicates and extremes.
        var values: [Int64] = [.max, .min, 0, -1, 1, 42, 42, -42]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<56 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            values.append(Int64(bitPattern: state) >> Int64(state % 50))
        }
        let messageAddress = TestMachine.dataBase
        let arrayAddress = TestMachine.dataBase + 0x1000
        let machine = TestMachine(Self.compiledGuest, registers: [
            0: messageAddress, 1: UInt64(message.count),
            22: arrayAddress, 23: UInt64(values.count),
            24: UInt64(UInt32(bitPattern: -123_457)), 25: 5000,
        ])
        machine.memory.load(bytes: message, at: messageAddress)
        for (i, value) in values.enumerated() {
            machine.memory[u64: arrayAddress + UInt64(8 * i)] = UInt64(bitPattern: value)
        }

        #expect(machine.run(limit: 10_000_000) == .hvc(0))

        #expect(machine.cpu[x: 21] == 0x414F_A339)  // the well-known CRC-32 of this sentence
        #expect(machine.cpu[x: 21] == UInt64(Self.crc32(message)))
        let sorted = (0..<values.count).map { Int64(bitPattern: machine.memory[u64: arrayAddress + UInt64(8 * $0)]) }
        #expect(sorted == values.sorted())
        #expect(Int64(bitPattern: machine.cpu[x: 26]) == Self.mix(seed: -123_457, count: 5000))
    }
}
