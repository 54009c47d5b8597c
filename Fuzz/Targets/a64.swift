// libFuzzer target: the A64 decoder and one short run of the interpreter.
// Input: 16 bytes of machine state (a seed for X0–X30 and SP, VBAR_EL1 on or
// off, the starting mode), then up to 32 instruction words. Every word is
// decoded (the decoder must be total); then the words run from 0x40000000 on
// a 64 KiB sandbox bus for at most 256 steps, MMIO completed with the address
// as data. Nothing may trap: an interpreter bug would take the VMM down.
import A64
import Glibc

struct SandboxBus: A64Bus {
    static let base: UInt64 = 0x4000_0000
    static let size: UInt64 = 0x1_0000
    let memory: UnsafeMutableRawPointer

    func offset(_ address: UInt64, _ size: Int) throws(A64BusFault) -> Int {
        let offset = address &- Self.base
        guard address >= Self.base, offset < Self.size, Self.size - offset >= UInt64(size) else { throw A64BusFault(address: address) }
        return Int(offset)
    }

    func read(_ address: UInt64, size: Int) throws(A64BusFault) -> UInt64 {
        let at = try offset(address, size)
        var value: UInt64 = 0
        memcpy(&value, memory + at, size)
        return value
    }

    func write(_ address: UInt64, size: Int, value: UInt64) throws(A64BusFault) {
        let at = try offset(address, size)
        var value = value
        memcpy(memory + at, &value, size)
    }

    func fetch(_ address: UInt64) throws(A64BusFault) -> UInt32 {
        UInt32(truncatingIfNeeded: try read(address, size: 4))
    }
}

// One buffer for every run; libFuzzer calls the target from one thread.
nonisolated(unsafe) let memory = UnsafeMutableRawPointer.allocate(byteCount: Int(SandboxBus.size), alignment: 16)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzA64(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 16 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    var words: [UInt32] = []
    var at = 16
    while at + 4 <= size && words.count < 32 {
        words.append(UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24)
        at += 4
    }
    for word in words {
        let instruction = A64Decoder.decode(word)
        precondition(A64Decoder.decode(word) == instruction, "decoding is not deterministic")
        _ = String(describing: instruction)
    }

    memset(memory, 0, Int(SandboxBus.size))
    for (index, word) in words.enumerated() { memory.storeBytes(of: word.littleEndian, toByteOffset: 4 * index, as: UInt32.self) }
    let cpu = A64CPU()
    var seed = bytes.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    func next() -> UInt64 {
        seed &+= 0x9E37_79B9_7F4A_7C15
        var z = seed
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    // Registers point into the sandbox half the time, so loads and stores hit memory.
    for n in 0...30 { cpu[x: n] = bytes[8] & 1 == 0 ? SandboxBus.base + next() % SandboxBus.size : next() }
    cpu.sp = SandboxBus.base + (SandboxBus.size / 2) & ~15
    cpu.pc = SandboxBus.base
    if bytes[9] & 1 != 0 { cpu.system.vbarEL1 = SandboxBus.base + 0x8000 }
    cpu.pstate = [0b00101, 0b00100, 0b00000][Int(bytes[10] % 3)] | UInt64(bytes[11] & 0xF0) << 24

    let bus = SandboxBus(memory: memory)
    for _ in 0..<256 {
        guard let stop = cpu.step(bus) else { continue }
        _ = stop.description
        if case .mmio(let access) = stop {
            if access.isWrite { try! cpu.completeMMIOWrite() } else { try! cpu.completeMMIORead(access.address) }
            continue
        }
        if case .hvc = stop { continue }
        if case .smc = stop { continue }
        break
    }
    _ = cpu.description
    return 0
}
