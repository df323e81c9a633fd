import Glibc

/// Finding a literal in a byte buffer (JSON keys in bodies and answers), off the request path
/// but run on every recorded exchange: `memchr` to the first byte, the second byte compared in
/// line (the keys start with `"`, found at every JSON string), `memcmp` for the rest.
enum ByteSearch {
    /// The offset of the first `needle` at or after `from`, or nil.
    static func find(_ needle: StaticString, in p: UnsafeRawBufferPointer, from: Int = 0) -> Int? {
        let n = needle.utf8CodeUnitCount
        guard n > 0, let base = p.baseAddress else { return nil }
        let first = needle.utf8Start[0]
        let second = n > 1 ? needle.utf8Start[1] : 0
        var i = from
        while i + n <= p.count {
            guard let hit = memchr(base + i, Int32(first), p.count - n + 1 - i) else { return nil }
            let q = base.distance(to: UnsafeRawPointer(hit))
            if n == 1 || (p[q + 1] == second && memcmp(base + q + 2, needle.utf8Start + 2, n - 2) == 0) { return q }
            i = q + 1
        }
        return nil
    }
}
