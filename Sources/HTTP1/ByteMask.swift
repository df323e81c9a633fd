/// Byte classes of eight bytes at once (SWAR), for the scanners that skip plain runs: header
/// values, JSON text being escaped, strings in request bodies. Each mask has the high bit of every
/// byte of a little-endian word that is in the class, exact up to and including the lowest such
/// byte (a borrow only carries into higher bytes), which is all the callers read (`first`). Masks
/// can be or-ed: the lowest bit of the union is still exact.
public enum ByteMask {
    /// Eight bytes at `offset` (at least eight must remain), the first in the lowest bits.
    @inlinable @inline(__always)
    public static func load(_ p: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// Bytes equal to `byte`.
    @inlinable @inline(__always)
    public static func equal(_ x: UInt64, _ byte: UInt8) -> UInt64 {
        let y = x ^ (UInt64(byte) &* ones)
        return (y &- ones) & ~y & high
    }

    /// Control bytes (below 0x20).
    @inlinable @inline(__always)
    public static func control(_ x: UInt64) -> UInt64 { (x &- 0x20 &* ones) & ~x & high }

    /// Bytes of 0x80 and above.
    @inlinable @inline(__always)
    public static func nonASCII(_ x: UInt64) -> UInt64 { x & high }

    /// The position in the word of the lowest byte a mask flags.
    @inlinable @inline(__always)
    public static func first(_ mask: UInt64) -> Int { mask.trailingZeroBitCount >> 3 }

    @inlinable static var ones: UInt64 { 0x0101_0101_0101_0101 }
    @inlinable static var high: UInt64 { 0x8080_8080_8080_8080 }
}
