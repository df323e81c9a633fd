import CJSONEscape
import HTTP1
import HTTPServer

/// Writes captured bytes into a record as a JSON string: valid UTF-8 out whatever came in (an
/// invalid byte becomes U+FFFD), escaped, and cut at a byte budget of the record without splitting
/// a character or an escape. Records are read by collectors and JSON parsers that reject bad UTF-8.
///
/// This runs on the event loop for every captured body, so it writes through a pointer into
/// space reserved once, sixteen bytes at a time where they need no escape.
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
    /// The escaping itself is C (`CJSONEscape`): SSE2 compares sixteen bytes at once, which Swift's
    /// SIMD types do not turn into a mask; a captured JSON body has a quote every few bytes.
    private static func write(_ space: UnsafeMutableRawBufferPointer, _ bytes: UnsafeRawBufferPointer, budget: Int)
        -> (Int, Bool)
    {
        let out = space.bindMemory(to: UInt8.self)
        out[0] = UInt8(ascii: "\"")
        var cut: Int32 = 0
        let written =
            bytes.isEmpty
            ? 0
            : mf_json_escape(
                out.baseAddress! + 1, budget, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count,
                &cut)
        out[1 + written] = UInt8(ascii: "\"")
        return (written + 2, cut != 0)
    }
}
