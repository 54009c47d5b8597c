import CKVM

/// A one-byte read of host memory that cannot take the VMM down: what the
/// harness uses to check that a private page really faults for the host.
public enum GuardedRead {
    public enum Outcome: Equatable, Sendable {
        case readable(UInt8)
        /// The read faulted: the signal and its si_code (SIGSEGV/SEGV_ACCERR
        /// on a protected page); signal 0 when the probe itself failed
        /// (code = -errno).
        case faulted(signal: Int32, code: Int32)
    }

    /// In this process, under a guarded SIGSEGV/SIGBUS handler (one at a time).
    public static func inProcess(_ address: UnsafeRawPointer) -> Outcome {
        var value: UInt8 = 0, code: Int32 = 0
        let result = ckvm_probe_read_guarded(address, &value, &code)
        return outcome(result, value, code)
    }

    /// Many addresses under one guarded handler install (about a third of
    /// the cost of probing them one at a time: no sigaction or mask syscall
    /// per probe).
    public static func inProcess(_ addresses: [UnsafeRawPointer]) -> [Outcome] {
        guard !addresses.isEmpty else { return [] }
        var values = [UInt8](repeating: 0, count: addresses.count)
        var signals = [Int32](repeating: 0, count: addresses.count)
        var codes = [Int32](repeating: 0, count: addresses.count)
        let raw: [UnsafeRawPointer?] = addresses
        _ = raw.withUnsafeBufferPointer { pointers in
            ckvm_probe_read_guarded_batch(pointers.baseAddress, addresses.count, &values, &signals, &codes)
        }
        return (0..<addresses.count).map { signals[$0] == 0 ? .readable(values[$0]) : .faulted(signal: signals[$0], code: codes[$0]) }
    }

    /// In a forked child, which shares MAP_SHARED mappings but cannot crash the
    /// parent (about 0.4 ms a read).
    public static func inChild(_ address: UnsafeRawPointer) -> Outcome {
        var value: UInt8 = 0, code: Int32 = 0
        let result = ckvm_probe_read_in_child(address, &value, &code)
        return outcome(result, value, code)
    }

    private static func outcome(_ result: Int32, _ value: UInt8, _ code: Int32) -> Outcome {
        if result == 0 { return .readable(value) }
        if result < 0 { return .faulted(signal: 0, code: result) }
        return .faulted(signal: result, code: code)
    }
}

/// A mapping made for a probe (the regression suite maps guest_memfd files
/// in ways pvmh itself never does, e.g. MAP_PRIVATE, to see the kernel refuse).
public enum ProbeMapping {
    /// mmap, or the errno it failed with.
    public static func map(length: Int, protection: Int32, flags: Int32, fd: Int32) -> Result<UnsafeMutableRawPointer, ProbeMappingError> {
        var error: Int32 = 0
        guard let pointer = ckvm_mmap(nil, length, protection, flags, fd, 0, &error) else { return .failure(ProbeMappingError(errno: error)) }
        return .success(pointer)
    }

    public static func unmap(_ pointer: UnsafeMutableRawPointer, length: Int) {
        _ = ckvm_munmap(pointer, length)
    }
}

public struct ProbeMappingError: Error, Equatable, Sendable {
    public let errno: Int32
}
