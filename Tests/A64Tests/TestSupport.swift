import Testing
@testable import A64

/// RAM at `base` for test programs; every other address is a bus fault, so
/// accesses outside it surface as MMIO stops.
final class TestMemory: A64Bus {
    let base: UInt64
    var bytes: [UInt8]

    init(base: UInt64 = TestMachine.ramBase, size: Int = 0x10_0000) {
        self.base = base
        self.bytes = [UInt8](repeating: 0, count: size)
    }

    private func offset(_ address: UInt64, _ size: Int) throws(A64BusFault) -> Int {
        guard address >= base, address - base + UInt64(size) <= UInt64(bytes.count) else {
            throw A64BusFault(address: address)
        }
        return Int(address - base)
    }

    func read(_ address: UInt64, size: Int) throws(A64BusFault) -> UInt64 {
        let start = try offset(address, size)
        var value: UInt64 = 0
        for i in 0..<size { value |= UInt64(bytes[start + i]) << UInt64(8 * i) }
        return value
    }

    func write(_ address: UInt64, size: Int, value: UInt64) throws(A64BusFault) {
        let start = try offset(address, size)
        for i in 0..<size { bytes[start + i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * i)) }
    }

    func fetch(_ address: UInt64) throws(A64BusFault) -> UInt32 {
        UInt32(truncatingIfNeeded: try read(address, size: 4))
    }

    func load(_ words: [UInt32], at address: UInt64) {
        for (i, word) in words.enumerated() {
            try! write(address + UInt64(4 * i), size: 4, value: UInt64(word))
        }
    }

    func load(bytes data: [UInt8], at address: UInt64) {
        let start = Int(address - base)
        bytes.replaceSubrange(start..<start + data.count, with: data)
    }

    subscript(u64 address: UInt64) -> UInt64 {
        get { try! read(address, size: 8) }
        set { try! write(address, size: 8, value: newValue) }
    }
}

/// A CPU and its RAM, with a program loaded at `codeBase` and SP at the top of RAM.
struct TestMachine {
    static let ramBase: UInt64 = 0x4000_0000
    static let codeBase: UInt64 = 0x4000_0000
    static let dataBase: UInt64 = 0x4008_0000
    static let stackTop: UInt64 = 0x4010_0000
    /// An address with no RAM behind it, standing in for a device.
    static let deviceBase: UInt64 = 0x0900_0000

    let cpu = A64CPU()
    let memory = TestMemory()

    init(_ program: [UInt32], registers: [Int: UInt64] = [:], nzcv: UInt64 = 0) {
        memory.load(program, at: Self.codeBase)
        cpu.pc = Self.codeBase
        cpu.sp = Self.stackTop
        for (n, value) in registers { cpu[x: n] = value }
        cpu.nzcv = nzcv
    }

    func run(limit: Int = 100_000) -> A64Stop {
        cpu.run(memory, maxInstructions: limit)
    }

    /// Runs one instruction followed by `HVC #0` and returns the CPU.
    static func single(_ word: UInt32, registers: [Int: UInt64] = [:], nzcv: UInt64 = 0) -> A64CPU {
        let machine = TestMachine([word, Encoding.hvc0], registers: registers, nzcv: nzcv)
        let stop = machine.run()
        #expect(stop == .hvc(0), "\(hex(word)) should run to the HVC, stopped with \(stop)")
        return machine.cpu
    }
}

/// A few encodings the tests build programs from.
enum Encoding {
    static let hvc0: UInt32 = 0xD400_0002  // hvc #0
    static let nop: UInt32 = 0xD503_201F  // nop
    static let eret: UInt32 = 0xD69F_03E0  // eret
}
