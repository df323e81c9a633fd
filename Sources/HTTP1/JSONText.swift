/// JSON string escaping over bytes (RFC 8259): quotes, backslash and control bytes are escaped;
/// invalid UTF-8 is passed through as bytes (log consumers tolerate it; records validate captured
/// bodies with `CaptureText`).
///
/// Every log line and output record goes through here on the event loop, so plain runs are found
/// eight bytes at a time and copied at once; nothing is allocated.
public enum JSONText {
    public static func appendString<B: ByteSink, S: Sequence>(_ buf: inout B, _ s: S) where S.Element == UInt8 {
        buf.appendByte(UInt8(ascii: "\""))
        let done: Void? = s.withContiguousStorageIfAvailable { p in appendEscaped(&buf, UnsafeRawBufferPointer(p)) }
        if done == nil {
            for b in s {
                if needsEscape(b) { appendEscape(&buf, b) } else { buf.appendByte(b) }
            }
        }
        buf.appendByte(UInt8(ascii: "\""))
    }

    /// The escaped content of `p`, without quotes.
    public static func appendEscaped<B: ByteSink>(_ buf: inout B, _ p: UnsafeRawBufferPointer) {
        var i = 0
        while i < p.count {
            let j = plainRunEnd(p, from: i, to: p.count)
            if j > i { buf.appendBytes(UnsafeRawBufferPointer(rebasing: p[i..<j])) }
            guard j < p.count else { return }
            let b = p[j]
            if needsEscape(b) { appendEscape(&buf, b) } else { buf.appendByte(b) }
            i = j + 1
        }
    }

    @inline(__always)
    static func needsEscape(_ b: UInt8) -> Bool { b < 0x20 || b == 0x22 || b == 0x5C }

    /// The escape sequence of a byte for which `needsEscape` holds.
    @inline(__always)
    static func appendEscape<B: ByteSink>(_ buf: inout B, _ b: UInt8) {
        buf.appendByte(0x5C)
        switch b {
        case 0x22: buf.appendByte(0x22)
        case 0x5C: buf.appendByte(0x5C)
        case 0x0A: buf.appendByte(UInt8(ascii: "n"))
        case 0x0D: buf.appendByte(UInt8(ascii: "r"))
        case 0x09: buf.appendByte(UInt8(ascii: "t"))
        default:
            let hex: StaticString = "0123456789abcdef"
            buf.appendByte(UInt8(ascii: "u"))
            buf.appendByte(0x30)
            buf.appendByte(0x30)
            buf.appendByte(hex.utf8Start[Int(b >> 4)])
            buf.appendByte(hex.utf8Start[Int(b & 0xF)])
        }
    }

    /// The index of the first byte in `from..<to` that is not plain printable ASCII (a control
    /// byte, `"`, `\` or any byte ≥ 0x80), or `to`. Eight bytes per step (`ByteMask`).
    @inlinable @inline(__always)
    public static func plainRunEnd(_ p: UnsafeRawBufferPointer, from: Int, to end: Int) -> Int {
        var i = from
        while i + 8 <= end {
            let m = specialBytes(ByteMask.load(p, i))
            if m != 0 { return i + ByteMask.first(m) }
            i += 8
        }
        while i < end {
            let b = p[i]
            if b < 0x20 || b >= 0x80 || b == 0x22 || b == 0x5C { return i }
            i += 1
        }
        return end
    }

    /// The bytes of `x` that are < 0x20, `"`, `\` or ≥ 0x80 (a `ByteMask`).
    @inlinable @inline(__always)
    public static func specialBytes(_ x: UInt64) -> UInt64 {
        ByteMask.control(x) | ByteMask.equal(x, 0x22) | ByteMask.equal(x, 0x5C) | ByteMask.nonASCII(x)
    }
}
