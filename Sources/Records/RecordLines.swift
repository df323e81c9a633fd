import Glibc

/// Reads a record file line by line (the CLI's cold path: query, export, stats, gate), in fixed
/// chunks so memory stays bounded by the longest line, not by the file: rotated files are 64 MiB
/// by default and a directory holds many.
///
/// A last line without a newline (the writer is mid-record, or the file is torn) is not a record
/// and is not handed out.
public enum RecordLines {
    public struct ReadError: Error, CustomStringConvertible {
        public var path: String
        public var errno: Int32
        public var description: String {
            "cannot read \(path): \(String(cString: strerror(errno)))"
        }
    }

    static let chunk = 1 << 20

    /// Calls `body` with each complete line (without its newline); empty lines are skipped.
    public static func forEach(
        in path: String, _ body: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadError(path: path, errno: errno) }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: chunk)
        var filled = 0
        while true {
            if filled == buf.count { buf.append(contentsOf: repeatElement(0, count: buf.count)) }  // a long line
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReadError(path: path, errno: errno)
            }
            if n == 0 { return }
            let end = filled + n
            var start = 0
            try buf.withUnsafeBytes { p in
                var i = filled
                while let nl = memchr(p.baseAddress! + i, 0x0A, end - i) {
                    let at = p.baseAddress!.distance(to: UnsafeRawPointer(nl))
                    if at > start { try body(UnsafeRawBufferPointer(rebasing: p[start..<at])) }
                    start = at + 1
                    i = start
                }
            }
            // Keep the unfinished line at the front.
            if start > 0 {
                buf.withUnsafeMutableBytes { p in
                    _ = memmove(p.baseAddress!, p.baseAddress! + start, end - start)
                }
            }
            filled = end - start
            if buf.count > chunk && filled < chunk {
                buf.removeLast(buf.count - chunk)  // back to one chunk after a long line
            }
        }
    }
}
