import Glibc
import Synchronization

/// A file pvmh writes once, when a run is over (a trace, a map): opened when
/// the options are checked, so an unwritable path is refused before any VM
/// exists, and written whole at the end. Until then an existing file keeps
/// its contents; a file this opened created is removed again by `abandon`.
public final class OutputFile: Sendable {
    public let path: String
    private let created: Bool
    private let descriptor: Mutex<Int32?>

    /// Why an output file cannot be opened or written.
    public enum Failure: Error, Equatable, Sendable, CustomStringConvertible {
        case open(errno: Int32)
        case notARegularFile
        case write(SystemError)

        public var description: String {
            switch self {
            case .open(let errno): String(cString: strerror(errno))
            case .notARegularFile: "it is not a regular file"
            case .write(let error): error.description
            }
        }
    }

    /// Opens (or creates, mode 0644) `path` for writing.
    public init(path: String) throws(Failure) {
        self.path = path
        var info = stat()
        let existed = stat(path, &info) == 0
        // O_NONBLOCK: a FIFO with no reader must not hang the VMM before it starts.
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0o644)
        guard fd >= 0 else { throw .open(errno: errno) }
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw .notARegularFile
        }
        created = !existed
        descriptor = Mutex(fd)
    }

    deinit {
        descriptor.withLock { if let fd = $0 { close(fd) } }
    }

    /// Replaces the file's contents with `text` and closes it.
    public func write(_ text: String) throws(Failure) {
        let result: SystemError? = descriptor.withLock { slot in
            guard let fd = slot else { return SystemError("write (file already closed)", errno: EBADF) }
            slot = nil
            defer { close(fd) }
            guard ftruncate(fd, 0) == 0 else { return SystemError("ftruncate", errno: errno) }
            var bytes = Array(text.utf8)
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeMutableBytes { Glibc.pwrite(fd, $0.baseAddress! + offset, $0.count - offset, off_t(offset)) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return SystemError("write", errno: n < 0 ? errno : EIO) }
                offset += n
            }
            bytes.removeAll()
            return nil
        }
        if let result { throw .write(result) }
    }

    /// Closes without writing; removes the file if opening created it.
    public func abandon() {
        descriptor.withLock { slot in
            if let fd = slot { close(fd) }
            slot = nil
        }
        if created { unlink(path) }
    }
}
