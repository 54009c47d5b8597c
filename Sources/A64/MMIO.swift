// Completing a load or store the embedder emulated as MMIO.

extension A64CPU {
    /// Finishes a pending MMIO load with the device's value: extends it as the
    /// instruction asked (LDRSB, LDRSH, LDRSW, W or X), writes the register,
    /// applies any base writeback and advances the PC.
    ///
    /// - Throws: ``A64CPUError/noPendingMMIO(expected:)`` if the last stop was
    ///   not an MMIO read, or the PC has moved since (the access was abandoned).
    public func completeMMIORead(_ value: UInt64) throws(A64CPUError) {
        guard let pending = pendingMMIO, !pending.access.isWrite, pending.access.pc == pc else {
            throw .noPendingMMIO(expected: "read")
        }
        pendingMMIO = nil
        if let writeback = pending.writeback { write(writeback.register, writeback.value) }
        write(pending.rt, Self.extendLoaded(value, op: pending.op, size: pending.size))
        pc &+= 4
    }

    /// Finishes a pending MMIO store the embedder has performed: applies any
    /// base writeback and advances the PC.
    ///
    /// - Throws: ``A64CPUError/noPendingMMIO(expected:)`` if the last stop was
    ///   not an MMIO write, or the PC has moved since (the access was abandoned).
    public func completeMMIOWrite() throws(A64CPUError) {
        guard let pending = pendingMMIO, pending.access.isWrite, pending.access.pc == pc else {
            throw .noPendingMMIO(expected: "write")
        }
        pendingMMIO = nil
        if let writeback = pending.writeback { write(writeback.register, writeback.value) }
        pc &+= 4
    }
}
