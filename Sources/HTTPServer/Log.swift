import Glibc

/// Structured log lines on stderr: one JSON object per line, written with one `write(2)`.
///
/// Lines are built in a small buffer (no Foundation, no formatting machinery) and are short, so a
/// line below PIPE_BUF is never interleaved with another thread's line.
public enum Log {
    public enum Level: String, Sendable { case debug, info, warn, error }

    nonisolated(unsafe) public static var minimumLevel: Level = .info

    public struct Line {
        var buf: [UInt8]

        init(_ level: Level, _ event: String) {
            buf = []
            buf.reserveCapacity(256)
            buf.append(contentsOf: "{\"ts\":\"".utf8)
            Log.appendTimestamp(&buf)
            buf.append(contentsOf: "\",\"level\":\"".utf8)
            buf.append(contentsOf: level.rawValue.utf8)
            buf.append(contentsOf: "\",\"event\":".utf8)
            JSONText.appendString(&buf, event.utf8)
        }

        public mutating func field(_ name: StaticString, _ value: String) {
            buf.append(contentsOf: ",\"".utf8)
            buf.append(contentsOf: name.rawBytesForLog)
            buf.append(contentsOf: "\":".utf8)
            JSONText.appendString(&buf, value.utf8)
        }

        public mutating func field(_ name: StaticString, bytes: UnsafeRawBufferPointer) {
            buf.append(contentsOf: ",\"".utf8)
            buf.append(contentsOf: name.rawBytesForLog)
            buf.append(contentsOf: "\":".utf8)
            JSONText.appendString(&buf, bytes)
        }

        public mutating func field(_ name: StaticString, _ value: Int) {
            buf.append(contentsOf: ",\"".utf8)
            buf.append(contentsOf: name.rawBytesForLog)
            buf.append(contentsOf: "\":".utf8)
            buf.append(contentsOf: String(value).utf8)
        }

        func emit() {
            var b = buf
            b.append(contentsOf: "}\n".utf8)
            b.withUnsafeBytes { p in
                var off = 0
                while off < p.count {
                    let n = Glibc.write(2, p.baseAddress! + off, p.count - off)
                    if n <= 0 { break }
                    off += n
                }
            }
        }
    }

    public static func enabled(_ level: Level) -> Bool {
        switch (minimumLevel, level) {
        case (.debug, _): return true
        case (.info, .debug): return false
        case (.info, _): return true
        case (.warn, .warn), (.warn, .error): return true
        case (.error, .error): return true
        default: return false
        }
    }

    /// Writes one line: `Log.write(.error, "upstream_error") { $0.field("code", "x") }`.
    public static func write(_ level: Level, _ event: String, _ fill: (inout Line) -> Void = { _ in }) {
        guard enabled(level) else { return }
        var line = Line(level, event)
        fill(&line)
        line.emit()
    }

    /// RFC 3339 UTC with milliseconds, e.g. 2026-11-25T18:03:04.123Z.
    public static func appendTimestamp(_ buf: inout [UInt8]) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var tmv = tm()
        gmtime_r(&t, &tmv)
        func two(_ v: Int32) {
            buf.append(UInt8(ascii: "0") + UInt8(v / 10))
            buf.append(UInt8(ascii: "0") + UInt8(v % 10))
        }
        let year = Int(tmv.tm_year) + 1900
        buf.append(contentsOf: String(year).utf8)
        buf.append(UInt8(ascii: "-"))
        two(tmv.tm_mon + 1)
        buf.append(UInt8(ascii: "-"))
        two(tmv.tm_mday)
        buf.append(UInt8(ascii: "T"))
        two(tmv.tm_hour)
        buf.append(UInt8(ascii: ":"))
        two(tmv.tm_min)
        buf.append(UInt8(ascii: ":"))
        two(tmv.tm_sec)
        buf.append(UInt8(ascii: "."))
        let ms = Int32(ts.tv_nsec / 1_000_000)
        buf.append(UInt8(ascii: "0") + UInt8(ms / 100))
        two(ms % 100)
        buf.append(UInt8(ascii: "Z"))
    }
}

extension StaticString {
    var rawBytesForLog: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: utf8Start, count: utf8CodeUnitCount) }
}
