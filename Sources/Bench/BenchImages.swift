import GuestImage

/// The guest images the bench runs, made from the built-in ones or here.
public enum BenchImages {
    /// The x86_64-bench guest (Guests/x86_64/bench.S) with its parameter
    /// block patched: the same bytes go to pvmh and to the C baseline.
    public enum Mode: UInt32, Sendable {
        case shareUnshare = 1
        case rawExit = 2
    }

    static let parameterMagic = Array("PVMHBNCH".utf8)

    public static func x86Bench(mode: Mode, count: UInt32) throws(BenchFailure) -> [UInt8] {
        guard let guest = BuiltinGuest.named("x86_64-bench") else {
            throw BenchFailure("this pvmh has no built-in x86_64-bench guest; rebuild it with Guests/build --generate")
        }
        var bytes = guest.elfBytes
        guard let at = firstIndex(of: parameterMagic, in: bytes), at + 16 <= bytes.count else {
            throw BenchFailure("the x86_64-bench guest has no PVMHBNCH parameter block; rebuild it with Guests/build --generate")
        }
        for (offset, value) in [(8, mode.rawValue), (12, count)] {
            for index in 0..<4 { bytes[at + offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(index))) }
        }
        return bytes
    }

    static func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        outer: for start in 0...(haystack.count - needle.count) {
            for index in needle.indices where haystack[start + index] != needle[index] { continue outer }
            return start
        }
        return nil
    }

    /// The instructions the arm64 compute loop retires per iteration.
    public static let computeLoopInstructionsPerIteration = 4

    /// An arm64 ELF whose loop (`add; eor …, lsr #7; subs; b.ne`) runs
    /// `iterations` times, then calls PSCI SYSTEM_OFF with `hvc #0`: the
    /// model powers off, and so does QEMU's `virt` (its PSCI conduit is HVC
    /// when EL2 is not emulated). Linked at QEMU virt's usual image base.
    /// It touches no memory, so both run only the loop.
    public static func arm64ComputeLoop(iterations: UInt32) -> [UInt8] {
        let rd0: UInt32 = 0
        let low = iterations & 0xFFFF, high = iterations >> 16
        let code: [UInt32] = [
            0xD280_0000 | (low << 5) | rd0,     // movz x0, #low
            0xF2A0_0000 | (high << 5) | rd0,    // movk x0, #high, lsl #16
            0xD280_0001,                        // mov  x1, #0
            0x8B00_0021,                        // 1: add x1, x1, x0
            0xCA41_1C21,                        //    eor x1, x1, x1, lsr #7
            0xF100_0400,                        //    subs x0, x0, #1
            0x54FF_FFA1,                        //    b.ne 1b
            0xD280_0100,                        // mov  x0, #0x0008
            0xF2B0_8000,                        // movk x0, #0x8400, lsl #16 (PSCI SYSTEM_OFF)
            0xD400_0002,                        // hvc  #0
            0x1400_0000,                        // b    .
        ]
        return minimalELF(machine: 183, entry: ARM64GuestProtocol.imageBase, code: code)
    }

    /// An ELF64 executable with one R+X PT_LOAD at `entry` holding `code`.
    static func minimalELF(machine: UInt16, entry: UInt64, code: [UInt32]) -> [UInt8] {
        var out: [UInt8] = []
        func u16(_ v: UInt16) { out += [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func u32(_ v: UInt32) { for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) } }
        func u64(_ v: UInt64) { for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
        let codeOffset: UInt64 = 0x1000
        let codeSize = UInt64(code.count * 4)
        out += [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)  // ELF64, LSB, v1
        u16(2)                  // ET_EXEC
        u16(machine)
        u32(1)                  // EV_CURRENT
        u64(entry)
        u64(64)                 // e_phoff
        u64(0)                  // e_shoff
        u32(0)                  // e_flags
        u16(64)                 // e_ehsize
        u16(56)                 // e_phentsize
        u16(1)                  // e_phnum
        u16(64)                 // e_shentsize
        u16(0)                  // e_shnum
        u16(0)                  // e_shstrndx
        u32(1)                  // PT_LOAD
        u32(5)                  // PF_R | PF_X
        u64(codeOffset)
        u64(entry)              // p_vaddr
        u64(entry)              // p_paddr
        u64(codeSize)           // p_filesz
        u64(codeSize)           // p_memsz
        u64(0x1000)             // p_align
        out += [UInt8](repeating: 0, count: Int(codeOffset) - out.count)
        for word in code { u32(word) }
        return out
    }

    /// A 64 KiB x86 BIOS image for `qemu-system-x86_64 -bios`: its reset
    /// vector (the last 16 bytes, at 0xFFFFFFF0) does `mov al, 0; out 0xF4,
    /// al`, so `-device isa-debug-exit,iobase=0xf4` ends QEMU at the first
    /// instruction the guest runs (exit status (0 << 1) | 1 = 1).
    public static func qemuExitBIOS() -> [UInt8] {
        var image = [UInt8](repeating: 0xF4, count: 64 << 10)   // hlt everywhere else
        let resetVector: [UInt8] = [0xB0, 0x00, 0xE6, 0xF4, 0xF4, 0xEB, 0xFD]  // mov al,0; out 0xf4,al; hlt; jmp $-1
        image.replaceSubrange(0xFFF0..<0xFFF0 + resetVector.count, with: resetVector)
        return image
    }
}
