/// MurmurHash3 x86_32 (Austin Appleby), seed 0 by default: the hash flagd's `fractional` uses,
/// so a split here buckets every key exactly as flagd does. Streaming, so `flagKey + targetingKey`
/// hashes without building the concatenation.
public struct Murmur3 {
    private var h: UInt32
    private var k: UInt32 = 0
    private var n = 0
    private static let c1: UInt32 = 0xcc9e_2d51
    private static let c2: UInt32 = 0x1b87_3593

    public init(seed: UInt32 = 0) { h = seed }

    @inline(__always)
    private static func rotl(_ x: UInt32, _ r: UInt32) -> UInt32 { (x << r) | (x >> (32 - r)) }

    public mutating func add<C: Sequence>(_ data: C) where C.Element == UInt8 {
        for b in data {
            k |= UInt32(b) << (8 * UInt32(n & 3))
            n += 1
            if n & 3 == 0 {
                k &*= Murmur3.c1
                k = Murmur3.rotl(k, 15)
                k &*= Murmur3.c2
                h ^= k
                h = Murmur3.rotl(h, 13)
                h = h &* 5 &+ 0xe654_6b64
                k = 0
            }
        }
    }

    public func finalize() -> UInt32 {
        var h = self.h
        if n & 3 != 0 {
            var k = self.k
            k &*= Murmur3.c1
            k = Murmur3.rotl(k, 15)
            k &*= Murmur3.c2
            h ^= k
        }
        h ^= UInt32(truncatingIfNeeded: n)
        h ^= h >> 16
        h &*= 0x85eb_ca6b
        h ^= h >> 13
        h &*= 0xc2b2_ae35
        h ^= h >> 16
        return h
    }

    public static func hash32<C: Sequence>(_ data: C, seed: UInt32 = 0) -> UInt32 where C.Element == UInt8 {
        var m = Murmur3(seed: seed)
        m.add(data)
        return m.finalize()
    }
}
