/// A direct-mapped cache of decoded instructions, indexed by PC.
///
/// Decoding is a pure function of the instruction word, so an entry is valid
/// whenever its stored word equals the word just fetched: code that rewrites
/// itself simply misses, and no invalidation is ever needed. The fetch still
/// happens on every instruction (the bus stays the only source of truth);
/// what the cache saves is the walk through the decoder's tables, about a
/// quarter of the interpreter's time on call-heavy code.
struct DecodeCache: ~Copyable {
    struct Entry {
        var word: UInt32
        var instruction: A64Instruction
    }

    static let size = 4096
    private let entries: UnsafeMutablePointer<Entry>

    init() {
        entries = .allocate(capacity: Self.size)
        // Word 0 is UDF #0; seeding every entry with its true decoding keeps
        // the invariant "instruction == decode(word)" from the start.
        entries.initialize(repeating: Entry(word: 0, instruction: A64Decoder.decode(0)), count: Self.size)
    }

    deinit {
        entries.deinitialize(count: Self.size)
        entries.deallocate()
    }

    /// The decoding of `word`, fetched from `pc`.
    @inline(__always)
    func instruction(at pc: UInt64, word: UInt32) -> A64Instruction {
        let entry = entries + (Int(truncatingIfNeeded: pc >> 2) & (Self.size - 1))
        if entry.pointee.word == word { return entry.pointee.instruction }
        let instruction = A64Decoder.decode(word)
        entry.pointee = Entry(word: word, instruction: instruction)
        return instruction
    }
}
