import Glibc

/// Finding a literal in a byte buffer (JSON keys in bodies and answers), off the request path
/// but run on every recorded exchange: `memchr` to the first byte, `memcmp` for the rest.
enum ByteSearch {
    /// The offset of the first `needle` at or after `from`, or nil.
    static func find(_ needle: StaticString, in p: UnsafeRawBufferPointer, from: Int = 0) -> Int? {
        let n = needle.utf8CodeUnitCount
        guard n > 0, let base = p.baseAddress else { return nil }
        var i = from
        while i + n <= p.count {
            guard let hit = memchr(base + i, Int32(needle.utf8Start.pointee), p.count - n + 1 - i) else { return nil }
            let q = base.distance(to: UnsafeRawPointer(hit))
            if memcmp(base + q, needle.utf8Start, n) == 0 { return q }
            i = q + 1
        }
        return nil
    }
}
