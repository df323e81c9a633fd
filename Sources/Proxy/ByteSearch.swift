import CGNUString
import Glibc

/// Finding a literal in a byte buffer (JSON keys in bodies and answers), off the request path
/// but run on every recorded or scored exchange.
///
/// glibc's `memmem`. The keys start with `"`, which JSON has at every string, so a `memchr` to
/// the first byte stopped about every ten bytes of a body, and Horspool's skip over byte pairs
/// written in Swift was no faster (perf, per scored request: 1.45 µs for the `memchr` loop,
/// 1.52 µs). Measured on the bench's bodies (C, 200 k searches each), `memmem` finds
/// `"response_format"` absent from the 1.5 KB request in 94 ns against 263 ns for the `memchr`
/// loop, and `"content"` in the 716 B answer in 38 ns against 146.
package enum ByteSearch {
    /// The offset of the first `needle` at or after `from`, or nil.
    package static func find(_ needle: StaticString, in p: UnsafeRawBufferPointer, from: Int = 0) -> Int? {
        find(UnsafeRawBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount), in: p, from: from)
    }

    /// The offset of the first `needle` at or after `from`, or nil.
    package static func find(_ needle: UnsafeRawBufferPointer, in p: UnsafeRawBufferPointer, from: Int = 0) -> Int? {
        let start = max(from, 0)
        guard needle.count > 0, start + needle.count <= p.count, let base = p.baseAddress else { return nil }
        guard let hit = memmem(base + start, p.count - start, needle.baseAddress, needle.count) else { return nil }
        return base.distance(to: UnsafeRawPointer(hit))
    }
}
