// Branches: targets are computed from the address of the branch itself.

extension A64CPU {
    @inline(__always)
    func branchRelative(_ offset: Int64) {
        pc = pc &+ UInt64(bitPattern: offset)
    }

    @inline(__always)
    func compareBranch(is64: Bool, nonZero: Bool, rt: A64Register, offset: Int64) {
        if (read(rt, is64: is64) != 0) == nonZero { branchRelative(offset) } else { pc &+= 4 }
    }

    @inline(__always)
    func testBranch(nonZero: Bool, rt: A64Register, bit: UInt8, offset: Int64) {
        if ((read(rt) >> UInt64(bit)) & 1 != 0) == nonZero { branchRelative(offset) } else { pc &+= 4 }
    }

    /// BR/BLR/RET: the target is read before BLR writes X30, so `BLR X30`
    /// branches to the old X30.
    @inline(__always)
    func branchRegister(_ rn: A64Register, link: Bool) {
        let target = read(rn)
        if link { write(.linkRegister, pc &+ 4) }
        pc = target
    }
}
