import Glibc
import HTTP1

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

    /// RFC 3339 UTC with milliseconds, e.g. 2026-11-25T18:03:04.123Z (24 bytes, written at once).
    public static func appendTimestamp<B: ByteSink>(_ buf: inout B) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        appendTimestamp(&buf, seconds: Int(ts.tv_sec), milliseconds: Int(ts.tv_nsec / 1_000_000))
    }

    /// The date and time of a Unix time (UTC): `(year, month 1-12, day 1-31, seconds of the day)`.
    ///
    /// Arithmetic, not `gmtime_r`: every record carries a timestamp, and glibc's `gmtime_r` takes
    /// the time-zone lock on each call. Proleptic Gregorian days from Howard Hinnant's
    /// `civil_from_days` (eras of 400 years), valid for any `Int` time a clock gives.
    public static func civil(_ seconds: Int) -> (year: Int, month: Int, day: Int, second: Int) {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day, seconds - days * 86_400)
    }

    /// `appendTimestamp` for a given time (for tests and replays).
    public static func appendTimestamp<B: ByteSink>(_ buf: inout B, seconds: Int, milliseconds ms: Int) {
        let date = civil(seconds)
        let year = date.year
        let (hour, minute, second) = (date.second / 3_600, date.second / 60 % 60, date.second % 60)
        buf.appendInPlace(maxCount: 24) { out in
            func digits(_ at: Int, _ value: Int, _ count: Int) {
                var v = value
                for k in stride(from: count - 1, through: 0, by: -1) {
                    out[at + k] = UInt8(truncatingIfNeeded: v % 10) + 0x30
                    v /= 10
                }
            }
            digits(0, year, 4)
            out[4] = UInt8(ascii: "-")
            digits(5, date.month, 2)
            out[7] = UInt8(ascii: "-")
            digits(8, date.day, 2)
            out[10] = UInt8(ascii: "T")
            digits(11, hour, 2)
            out[13] = UInt8(ascii: ":")
            digits(14, minute, 2)
            out[16] = UInt8(ascii: ":")
            digits(17, second, 2)
            out[19] = UInt8(ascii: ".")
            digits(20, ms, 3)
            out[23] = UInt8(ascii: "Z")
            return 24
        }
    }
}

extension StaticString {
    var rawBytesForLog: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: utf8Start, count: utf8CodeUnitCount) }
}
