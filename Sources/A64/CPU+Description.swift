// A readable register dump for diagnostics and traces.

extension A64CPU: CustomStringConvertible {
    /// PC, PSTATE, the general-purpose registers and the exception registers,
    /// four registers to a line.
    public var description: String {
        let mode = exceptionLevel == 0 ? "EL0t" : (spSel ? "EL1h" : "EL1t")
        let flags = zip("NZCV", [Self.flagN, Self.flagZ, Self.flagC, Self.flagV])
            .map { nzcv & $0.1 != 0 ? String($0.0) : "-" }.joined()
        var lines = ["pc \(hex(pc, digits: 16))  \(mode)  nzcv \(flags)  daif \(hex(daif >> 6))"]
        for row in stride(from: 0, to: 31, by: 4) {
            let cells = (row..<min(row + 4, 31)).map { n in
                (n < 10 ? " x\(n) " : "x\(n) ") + hex(registers[n], digits: 16)
            }
            lines.append(cells.joined(separator: "  "))
        }
        lines.append(" sp " + hex(sp, digits: 16) + "  elr " + hex(system.elrEL1, digits: 16)
            + "  spsr " + hex(system.spsrEL1, digits: 8) + "  esr " + hex(system.esrEL1, digits: 8)
            + "  far " + hex(system.farEL1, digits: 16))
        return lines.joined(separator: "\n")
    }
}
