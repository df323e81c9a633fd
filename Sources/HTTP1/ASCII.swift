/// Byte classes and small scanners shared by the parsers. All work on bytes; nothing allocates.
@usableFromInline enum ASCII {
    static let cr: UInt8 = 0x0D
    static let lf: UInt8 = 0x0A
    static let sp: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let colon: UInt8 = 0x3A
    static let comma: UInt8 = 0x2C
    static let semicolon: UInt8 = 0x3B

    /// RFC 9110 tchar: "!#$%&'*+-.^_`|~" DIGIT ALPHA, as two 64-bit masks (no table, no lazy global).
    @inline(__always)
    static func isTchar(_ b: UInt8) -> Bool {
        if b < 64 { return (0x03ff_6cfa_0000_0000 as UInt64) >> UInt64(b) & 1 == 1 }
        if b < 128 { return (0x57ff_ffff_c7ff_fffe as UInt64) >> UInt64(b - 64) & 1 == 1 }
        return false
    }

    /// field-vchar / obs-text / SP / HTAB: every byte a header value may hold.
    @inline(__always)
    static func isFieldValueByte(_ b: UInt8) -> Bool { b >= 0x20 ? b != 0x7F : b == tab }

    @inline(__always)
    static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(b - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(b - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    /// Case-insensitive equality of `bytes` with a lowercase ASCII literal.
    @inline(__always)
    static func equalsLower(_ bytes: UnsafeRawBufferPointer, _ lower: StaticString) -> Bool {
        guard bytes.count == lower.utf8CodeUnitCount else { return false }
        let l = lower.utf8Start
        for i in 0..<bytes.count {
            var b = bytes[i]
            if b >= 0x41 && b <= 0x5A { b |= 0x20 }
            if b != l[i] { return false }
        }
        return true
    }

    /// Equality of `bytes`, in any case, with `lower`, which is already lowercase.
    @inlinable @inline(__always)
    static func equalsLower(_ bytes: UnsafeRawBufferPointer, _ lower: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count == lower.count else { return false }
        for i in 0..<bytes.count {
            var b = bytes[i]
            if b >= 0x41 && b <= 0x5A { b |= 0x20 }
            if b != lower[i] { return false }
        }
        return true
    }

    /// Case-insensitive equality of two byte runs.
    @inline(__always)
    static func equalsIgnoringCase(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count {
            var x = a[i]
            var y = b[i]
            if x >= 0x41 && x <= 0x5A { x |= 0x20 }
            if y >= 0x41 && y <= 0x5A { y |= 0x20 }
            if x != y { return false }
        }
        return true
    }

    /// Parses 1*DIGIT with no sign, spaces or other bytes; nil on anything else or past 15
    /// significant digits (so it can never overflow).
    static func parseDecimal(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard !bytes.isEmpty else { return nil }
        var v = 0
        var significant = 0
        for b in bytes {
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
            if significant > 0 || b != UInt8(ascii: "0") {
                significant += 1
                if significant > 15 { return nil }
            }
            v = v * 10 + Int(b - UInt8(ascii: "0"))
        }
        return v
    }

    /// Splits a comma-separated list (RFC 9110 #rule) and calls `body` with each element, OWS trimmed.
    /// Empty elements are passed as empty buffers so callers can refuse them.
    static func forEachListElement(_ value: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Bool) -> Bool {
        var start = 0
        var i = 0
        let n = value.count
        while i <= n {
            if i == n || value[i] == comma {
                var a = start
                var b = i
                while a < b && (value[a] == sp || value[a] == tab) { a += 1 }
                while b > a && (value[b - 1] == sp || value[b - 1] == tab) { b -= 1 }
                if !body(UnsafeRawBufferPointer(rebasing: value[a..<b])) { return false }
                start = i + 1
            }
            i += 1
        }
        return true
    }
}
