#!/usr/bin/env python3
"""The arm64-cdemo guest's expected results, computed independently.

main.c bakes these constants in (EXPECT_*). This is a separate transcription
of each computation in Python's unbounded integers, masking to the C widths
by hand, so a bug in clang's code generation or in the A64 interpreter cannot
agree with itself. Not part of the build: run it after changing a computation
in main.c and paste its output over the EXPECT_* block.

    python3 Guests/arm64/cdemo/expected.py
"""

M32 = (1 << 32) - 1
M64 = (1 << 64) - 1


def s64(x):
    """The signed 64-bit value of x's low 64 bits."""
    x &= M64
    return x - (1 << 64) if x >> 63 else x


def s32(x):
    x &= M32
    return x - (1 << 32) if x >> 31 else x


def c_div(a, b):
    """C's signed division: truncates toward zero."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def c_mod(a, b):
    return a - c_div(a, b) * b


class XorShift32:
    def __init__(self, seed):
        self.x = seed

    def next(self):
        x = self.x
        x ^= (x << 13) & M32
        x ^= x >> 17
        x ^= (x << 5) & M32
        self.x = x
        return x


class XorShift64:
    def __init__(self, seed):
        self.x = seed

    def next(self):
        x = self.x
        x ^= (x << 13) & M64
        x ^= x >> 7
        x ^= (x << 17) & M64
        self.x = x
        return x


def crc32(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xEDB88320 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def division_fold():
    acc = 0
    for i in range(1, 65):
        acc = (acc + 0xFEDCBA9876543210 // (i * i * i + 7)) & M64
        acc ^= 0x0123456789ABCDEF % (i + 13)
        acc = (acc + (acc & M32) // (i + 3)) & M64
        acc = ((acc << 7) | (acc >> 57)) & M64
    return acc


def signed_fold():
    s = 0
    for i in range(-50, 51):
        v = i * i * i - 1234 * i
        s += c_div(v, 7)
        s ^= v >> 3  # Python's >> on negative numbers is arithmetic, like asr
        s += c_mod(v, 5)
        s += s32(s32(v) * -3)
        if v < s:
            s -= i
        else:
            s += 2 * i
        assert -(1 << 63) <= s < (1 << 63)
    return s & M64


def run_program():
    a, b, n, acc = 0, 1, 40, 0
    while True:
        acc = (acc * 31 + a) & M64
        a, b = b, (a + b) & M64
        n -= 1
        if n == 0:
            break
    return acc ^ b


def bits_fold(rng):
    acc = 0
    for _ in range(32):
        x = rng.next()
        acc = (acc + bin(x).count("1")) & M64
        y = x | 1
        acc ^= (64 - y.bit_length()) << 8
        z = x | (1 << 63)
        ctz = (z & -z).bit_length() - 1
        acc = (acc + (ctz << 16)) & M64
        acc ^= int.from_bytes(x.to_bytes(8, "little"), "big")
        acc = ((acc >> 13) | (acc << 51)) & M64
    return acc


def bitfield_fold(rng):
    # union { u64 raw; struct { u64 a:5, b:11, c:20, d:1, e:27; } }:
    # fields from bit 0 upward in declaration order (AArch64 little-endian).
    layout = {"a": (0, 5), "b": (5, 11), "c": (16, 20), "d": (36, 1), "e": (37, 27)}

    def get(raw, name):
        shift, width = layout[name]
        return (raw >> shift) & ((1 << width) - 1)

    def put(raw, name, value):
        shift, width = layout[name]
        mask = ((1 << width) - 1) << shift
        return (raw & ~mask & M64) | ((value << shift) & mask)

    acc = 0
    for _ in range(16):
        x = rng.next()
        raw = x ^ acc
        raw = put(raw, "a", x)
        raw = put(raw, "c", x >> 19)
        raw = put(raw, "d", x >> 40)
        acc = (acc * 33 + raw + get(raw, "b") * get(raw, "a")
               + (get(raw, "c") ^ get(raw, "e")) + get(raw, "d")) & M64
    return acc


def indirect_fold():
    def rotate(a, b):
        b &= 63
        return ((a << b) | (a >> ((-b) & 63))) & M64

    operations = [
        lambda a, b: (a + b) & M64,
        lambda a, b: (a - b) & M64,
        lambda a, b: (a * b + 1) & M64,
        rotate,
    ]
    acc = 0x0123456789ABCDEF
    for i in range(40):
        acc = operations[i & 3](acc, (i * 0x9E3779B97F4A7C15) & M64)
    return acc


def main():
    results = {}
    results["CRC32_CHECK"] = crc32(b"123456789")

    rng32 = XorShift32(0x2545F491)
    buffer = bytes(rng32.next() >> 24 for _ in range(512))
    results["CRC32_BUFFER"] = crc32(buffer)

    rng64 = XorShift64(0x9E3779B97F4A7C15)
    values = sorted(s64(rng64.next()) for _ in range(100))
    results["SORT_INVERSIONS"] = 0
    results["SORT_CHECKSUM"] = sum((v & M64) * (i + 1) for i, v in enumerate(values)) & M64

    composite = [i < 2 for i in range(2000)]
    for i in range(2, 2000):
        if i * i >= 2000:
            break
        if not composite[i]:
            for j in range(i * i, 2000, i):
                composite[j] = True
    primes = [i for i in range(2000) if not composite[i]]
    results["PRIME_COUNT"] = len(primes)
    results["PRIME_SUM"] = sum(primes)

    results["POWMOD"] = pow(3, 0x0123456789ABCDEF, (1 << 61) - 1)
    results["DIVISION"] = division_fold()
    results["SIGNED"] = signed_fold()
    results["PROGRAM"] = run_program()
    results["BITS"] = bits_fold(rng64)          # continues the sort's generator
    results["BITFIELDS"] = bitfield_fold(rng64)
    results["INDIRECT"] = indirect_fold()

    for name, value in results.items():
        print(f"#define EXPECT_{name:<18}0x{value:x}ULL")


if __name__ == "__main__":
    main()
