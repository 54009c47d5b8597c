/// Flat binaries: raw code with no headers (`objcopy -O binary`), loaded only
/// when the user says where (`pvmh run --flat ADDRESS FILE`).
///
/// A flat file carries nothing to check it by: no magic, no machine, no entry.
/// That is why it is never guessed at: without `--flat` every file must be an
/// ELF64 executable, and with it the user supplies what the headers would have
/// said. The result is an ordinary `ELFImage` with one read-write-execute
/// segment, so placement (`validate(placement:…)`), loading and the journal
/// treat both kinds alike.
extension ELFImage {
    /// A flat binary loaded at `loadAddress` for `machine`, started at its
    /// first byte.
    ///
    /// Checks what can be checked without a VM: the file is not empty, its
    /// end fits in 64 bits, and the entry is instruction aligned. RAM and MMIO
    /// are the VM's business, as for ELF images.
    public init(flat bytes: [UInt8], loadAddress: UInt64, machine: GuestArchitecture) throws(ELFError) {
        guard !bytes.isEmpty else { throw .emptyFlatImage }
        let size = UInt64(bytes.count)
        guard !loadAddress.addingReportingOverflow(size).overflow else {
            throw .segmentAddressOverflow(index: 0, address: loadAddress, memorySize: size)
        }
        guard loadAddress % machine.instructionAlignment == 0 else {
            throw .misalignedEntry(entry: loadAddress, machine: machine)
        }
        self.machine = machine
        self.entry = loadAddress
        self.segments = [LoadSegment(index: 0, guestPhysicalAddress: loadAddress, virtualAddress: loadAddress,
                                     fileBytes: bytes, memorySize: size,
                                     flags: [.readable, .writable, .executable])]
    }
}

extension GuestArchitecture {
    /// The alignment every instruction address must have: A64 instructions
    /// are 4 bytes on 4-byte boundaries; x86 instructions may start anywhere.
    var instructionAlignment: UInt64 {
        switch self {
        case .x86_64: 1
        case .aarch64: 4
        }
    }
}
