/// Builds heads into a `ByteWriter` its owner reuses across requests (serialization allocates
/// nothing once the buffer has grown, and an append costs a copy, not an array's checks: a head
/// takes about thirty). A copy of a `HeadWriter` shares its buffer: keep one per owner.
public struct HeadWriter {
    private let buffer: ByteWriter

    public init(capacity: Int = 1024) { buffer = ByteWriter(capacity: capacity) }

    /// Allocates `capacity` bytes at the first write (see `ByteWriter.init(firstUse:)`).
    public init(firstUse capacity: Int) { buffer = ByteWriter(firstUse: capacity) }

    public mutating func reset() { buffer.removeAll() }

    /// Bytes written so far.
    public var count: Int { buffer.count }

    /// The head as written so far, valid until the next change.
    @inline(__always)
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try buffer.withBytes(body)
    }

    /// A copy of the head (tests, and owners that keep it).
    public var bytes: [UInt8] { buffer.array() }

    @inline(__always)
    public mutating func append(_ s: StaticString) { buffer.append(s) }

    @inline(__always)
    public mutating func append(_ b: UnsafeRawBufferPointer) { buffer.appendBytes(b) }

    @inline(__always)
    public mutating func append(_ b: ArraySlice<UInt8>) { b.withUnsafeBytes { buffer.appendBytes($0) } }

    /// A `String`'s bytes. Named apart from `append(_: StaticString)`: with both as overloads of
    /// one name, every literal picked this one (a literal's default type is `String`), and heads
    /// were built through string storage checks instead of a copy of constant bytes.
    public mutating func appendString(_ s: String) { buffer.appendUTF8(s) }

    public mutating func appendDecimal(_ value: Int) {
        var b = buffer
        DecimalText.append(value, to: &b)
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
