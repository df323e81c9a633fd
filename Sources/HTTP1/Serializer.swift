/// Builds heads and chunk frames into a caller-owned byte array (reused across requests, so
/// serialization allocates nothing once the array has grown).
public struct HeadWriter {
    public var bytes: [UInt8]

    public init(capacity: Int = 1024) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    @inline(__always)
    public mutating func append(_ s: StaticString) {
        bytes.append(contentsOf: UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    @inline(__always)
    public mutating func append(_ b: UnsafeRawBufferPointer) { bytes.append(contentsOf: b) }

    @inline(__always)
    public mutating func append(_ b: ArraySlice<UInt8>) { bytes.append(contentsOf: b) }

    /// A `String`'s bytes. Named apart from `append(_: StaticString)`: with both as overloads of
    /// one name, every literal picked this one (a literal's default type is `String`), and heads
    /// were built through string storage checks instead of a copy of constant bytes.
    public mutating func appendString(_ s: String) { bytes.append(contentsOf: s.utf8) }

    public mutating func appendDecimal(_ value: Int) {
        var v = value
        if v == 0 {
            bytes.append(UInt8(ascii: "0"))
            return
        }
        if v < 0 {
            bytes.append(UInt8(ascii: "-"))
            v = -v
        }
        var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &tmp) { t in
            var i = t.count
            while v > 0 {
                i -= 1
                t[i] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: t[i...]))
        }
    }

    public mutating func crlf() { append("\r\n") }

    /// `Name: value\r\n` from a literal name and raw value bytes.
    public mutating func header(_ name: StaticString, _ value: UnsafeRawBufferPointer) {
        append(name)
        append(": ")
        append(value)
        crlf()
    }
}

/// Chunk framing for bodies we send with `Transfer-Encoding: chunked`.
public enum ChunkFraming {
    /// The terminating chunk with no trailers.
    public static let last: StaticString = "0\r\n\r\n"
    public static let crlf: StaticString = "\r\n"

    /// Writes `HEX\r\n` for a chunk of `size` bytes into `buf` (≥ 18 bytes) and returns its length.
    @inline(__always)
    public static func header(_ size: Int, into buf: UnsafeMutableRawBufferPointer) -> Int {
        let hex: StaticString = "0123456789abcdef"
        var digits = 1
        var v = size >> 4
        while v > 0 {
            digits += 1
            v >>= 4
        }
        var s = size
        for i in stride(from: digits - 1, through: 0, by: -1) {
            buf[i] = hex.utf8Start[s & 0xF]
            s >>= 4
        }
        buf[digits] = ASCII.cr
        buf[digits + 1] = ASCII.lf
        return digits + 2
    }
}

extension StaticString {
    /// The literal's bytes, for writing to a stream.
    public var rawBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: utf8Start, count: utf8CodeUnitCount) }
}
