/// Writes captured bytes into a record as a JSON string: valid UTF-8 out whatever came in (an
/// invalid byte becomes U+FFFD), escaped, and cut at a byte budget of the record without splitting
/// a character or an escape. Records are read by collectors and JSON parsers that reject bad UTF-8.
enum CaptureText {
    /// Appends `"…"`; returns true when the content was cut to fit `cap` bytes.
    @discardableResult
    static func appendString(_ buf: inout [UInt8], _ bytes: UnsafeRawBufferPointer, cap: Int) -> Bool {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        let limit = buf.count + 1 + max(0, cap)
        buf.append(UInt8(ascii: "\""))
        var i = 0
        let n = bytes.count
        while i < n {
            let b = bytes[i]
            var len = 1
            var valid = true
            if b >= 0x80 {
                len = utf8Length(b)
                if len == 0 || i + len > n {
                    valid = false
                } else {
                    for j in 1..<len where bytes[i + j] & 0xC0 != 0x80 { valid = false }
                    if valid && !wellFormed(bytes, i, len) { valid = false }
                }
            }
            let escapedSize: Int
            if !valid {
                escapedSize = 3  // U+FFFD
            } else if b == 0x22 || b == 0x5C || b == 0x0A || b == 0x0D || b == 0x09 {
                escapedSize = 2
            } else if b < 0x20 {
                escapedSize = 6
            } else {
                escapedSize = len
            }
            if buf.count + escapedSize > limit {
                buf.append(UInt8(ascii: "\""))
                return true
            }
            if !valid {
                buf.append(contentsOf: [0xEF, 0xBF, 0xBD])
                i += 1
                continue
            }
            switch b {
            case 0x22: buf.append(contentsOf: [0x5C, 0x22])
            case 0x5C: buf.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: buf.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: buf.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: buf.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                buf.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]])
            default:
                for j in 0..<len { buf.append(bytes[i + j]) }
            }
            i += len
        }
        buf.append(UInt8(ascii: "\""))
        return false
    }

    @inline(__always)
    private static func utf8Length(_ lead: UInt8) -> Int {
        switch lead {
        case 0xC2...0xDF: return 2
        case 0xE0...0xEF: return 3
        case 0xF0...0xF4: return 4
        default: return 0
        }
    }

    /// Rejects overlong forms, surrogates and code points above U+10FFFF (RFC 3629).
    @inline(__always)
    private static func wellFormed(_ p: UnsafeRawBufferPointer, _ i: Int, _ len: Int) -> Bool {
        let b0 = p[i]
        let b1 = p[i + 1]
        switch len {
        case 3:
            if b0 == 0xE0 && b1 < 0xA0 { return false }
            if b0 == 0xED && b1 >= 0xA0 { return false }
        case 4:
            if b0 == 0xF0 && b1 < 0x90 { return false }
            if b0 == 0xF4 && b1 >= 0x90 { return false }
        default: break
        }
        return true
    }
}
