import HTTP1
import HTTPServer

/// Writes captured bytes into a record as a JSON string: valid UTF-8 out whatever came in (an
/// invalid byte becomes U+FFFD), escaped, and cut at a byte budget of the record without splitting
/// a character or an escape. Records are read by collectors and JSON parsers that reject bad UTF-8.
///
/// This runs on the event loop for every captured body, so it writes through a pointer into
/// space reserved once, finding runs of plain ASCII eight bytes at a time and copying each at once.
enum CaptureText {
    /// Appends `"…"`; returns true when the content was cut to fit `cap` bytes.
    @discardableResult
    static func appendString<B: ByteSink>(_ buf: inout B, _ bytes: UnsafeRawBufferPointer, cap: Int) -> Bool {
        // Most text needs few escapes: try with room for a quarter more, and only when that is
        // not enough write it again with room for the worst case (6 bytes per input byte).
        let full = max(0, min(cap, bytes.count * 6))
        let guess = min(full, bytes.count + bytes.count / 4 + 16)
        if guess < full {
            var fitted = false
            buf.appendInPlace(maxCount: guess + 2) { out in
                let (written, cut) = write(out, bytes, budget: guess)
                fitted = !cut
                return fitted ? written : 0
            }
            if fitted { return false }
        }
        var cut = false
        buf.appendInPlace(maxCount: full + 2) { out in
            let (written, wasCut) = write(out, bytes, budget: full)
            cut = wasCut
            return written
        }
        return cut
    }

    /// Writes the string (quotes included) into `space` (`budget` + 2 bytes) with at most
    /// `budget` bytes of content; returns the bytes written and whether the input did not all fit.
    private static func write(_ space: UnsafeMutableRawBufferPointer, _ bytes: UnsafeRawBufferPointer, budget: Int)
        -> (Int, Bool)
    {
        var cut = false
        let out = space.bindMemory(to: UInt8.self)
        out[0] = UInt8(ascii: "\"")
        var o = 1
        let limit = 1 + budget
        var i = 0
        let n = bytes.count
        let hex: StaticString = "0123456789abcdef"
        while i < n {
            // Eight bytes at a time: stored whole, kept up to the first byte that is not plain
            // ASCII (JSON bodies have a quote every few bytes: no copy call per short run).
            if i + 8 <= n && o + 8 <= limit {
                let x = bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                space.storeBytes(of: x, toByteOffset: o, as: UInt64.self)
                let special = JSONText.specialBytes(UInt64(littleEndian: x))
                if special == 0 {
                    i += 8
                    o += 8
                    continue
                }
                let plain = ByteMask.first(special)
                i += plain
                o += plain
            }
            let b = bytes[i]
            if b >= 0x20 && b < 0x80 && b != 0x22 && b != 0x5C {
                let runEnd = min(n, i + (limit - o))
                let j = runEnd > i + 1 ? JSONText.plainRunEnd(bytes, from: i + 1, to: runEnd) : i + 1
                if j == i + 1 && o + 1 > limit {
                    cut = true
                    break
                }
                UnsafeMutableRawBufferPointer(rebasing: space[o..<(o + j - i)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[i..<j]))
                o += j - i
                i = j
                continue
            }
            if b < 0x80 {
                let size = (b == 0x22 || b == 0x5C || b == 0x0A || b == 0x0D || b == 0x09) ? 2 : 6
                if o + size > limit {
                    cut = true
                    break
                }
                out[o] = 0x5C
                switch b {
                case 0x22: out[o + 1] = 0x22
                case 0x5C: out[o + 1] = 0x5C
                case 0x0A: out[o + 1] = UInt8(ascii: "n")
                case 0x0D: out[o + 1] = UInt8(ascii: "r")
                case 0x09: out[o + 1] = UInt8(ascii: "t")
                default:
                    out[o + 1] = UInt8(ascii: "u")
                    out[o + 2] = 0x30
                    out[o + 3] = 0x30
                    out[o + 4] = hex.utf8Start[Int(b >> 4)]
                    out[o + 5] = hex.utf8Start[Int(b & 0xF)]
                }
                o += size
                i += 1
                continue
            }
            var len = utf8Length(b)
            var valid = len > 0 && i + len <= n
            if valid {
                for k in 1..<len where bytes[i + k] & 0xC0 != 0x80 { valid = false }
                if valid && !wellFormed(bytes, i, len) { valid = false }
            }
            if !valid { len = 1 }
            let size = valid ? len : 3
            if o + size > limit {
                cut = true
                break
            }
            if valid {
                for k in 0..<len { out[o + k] = bytes[i + k] }
            } else {
                out[o] = 0xEF
                out[o + 1] = 0xBF
                out[o + 2] = 0xBD
            }
            o += size
            i += len
        }
        out[o] = UInt8(ascii: "\"")
        return (o + 1, cut)
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
