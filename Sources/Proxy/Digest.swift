import CSHA256
import HTTP1

/// SHA-256 (FIPS 180-4) for record capture: `hash` mode, redacted fields, targeting-key hashes.
///
/// Written here rather than taken from swift-crypto: that package links BoringSSL, which made the
/// binary 42 MB instead of 29 MB and every sidecar 1.3 MiB larger in resident memory at idle
/// (12.1 vs 10.8 MiB, `/proc/PID/smaps_rollup`), and added a minute to clean builds, for one hash
/// function. Checked against the NIST test vectors in
/// `DigestTests`. Not used for anything secret: a record hash lets people join and compare
/// bodies without storing them.
struct SHA256 {
    private var h: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) = (
        0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19
    )
    private var block: [UInt8]
    private var filled = 0
    private var length: UInt64 = 0
    /// Blocks go through the CPU's SHA instructions (`CSHA256`) when it has them.
    private let hardware: Bool

    /// Whether this CPU has SHA instructions (x86-64 SHA-NI): a block costs about 0.2 µs in Swift
    /// and several times less with them, and `capture: hash` hashes about 40 blocks per record.
    static let hardwareAvailable = mf_sha256_hardware() == 1

    /// The round constants (one table, in `CSHA256`, for both engines).
    nonisolated(unsafe) private static let k = mf_sha256_constants()!

    init(hardware: Bool = SHA256.hardwareAvailable) {
        block = [UInt8](repeating: 0, count: 64)
        self.hardware = hardware && SHA256.hardwareAvailable
    }

    mutating func update(_ data: UnsafeRawBufferPointer) {
        length &+= UInt64(data.count)
        var i = 0
        if filled > 0 {
            let take = min(64 - filled, data.count)
            for j in 0..<take { block[filled + j] = data[j] }
            filled += take
            i = take
            if filled == 64 {
                block.withUnsafeBytes { compressBlocks($0) }
                filled = 0
            }
        }
        let whole = (data.count - i) / 64
        if whole > 0 {
            compressBlocks(UnsafeRawBufferPointer(rebasing: data[i..<(i + whole * 64)]))
            i += whole * 64
        }
        while i < data.count {
            block[filled] = data[i]
            filled += 1
            i += 1
        }
    }

    /// The 32-byte digest. The hasher is spent afterwards.
    mutating func finalize() -> [UInt8] {
        finishBuffered()
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for word in [h.0, h.1, h.2, h.3, h.4, h.5, h.6, h.7] {
            out.append(UInt8(truncatingIfNeeded: word >> 24))
            out.append(UInt8(truncatingIfNeeded: word >> 16))
            out.append(UInt8(truncatingIfNeeded: word >> 8))
            out.append(UInt8(truncatingIfNeeded: word))
        }
        return out
    }

    /// The digest as lowercase hex appended to `out` (the response body's hash in `hash` mode).
    /// The hasher is spent afterwards.
    mutating func finalizeHex<B: ByteSink>(into out: inout B) {
        finishBuffered()
        SHA256.appendHex(words: h, into: &out)
    }

    private mutating func finishBuffered() {
        let partial = block  // a local reference: `finish` mutates self while reading it
        partial.withUnsafeBytes { finish(rest: UnsafeRawBufferPointer(rebasing: $0[0..<filled]), length: length) }
    }

    /// Compresses the last bytes of a message of `length` bytes with the padding: `rest` (under
    /// 64 bytes), 0x80, zeros, and the bit length; one block, or two past 55 bytes.
    private mutating func finish(rest: UnsafeRawBufferPointer, length: UInt64) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { tail in
            let blocks = rest.count < 56 ? 1 : 2
            for j in 0..<rest.count { tail[j] = rest[j] }
            tail[rest.count] = 0x80
            for j in (rest.count + 1)..<(blocks * 64 - 8) { tail[j] = 0 }
            let bits = length &* 8
            for j in 0..<8 { tail[blocks * 64 - 8 + j] = UInt8(truncatingIfNeeded: bits >> UInt64(56 - 8 * j)) }
            let raw = UnsafeRawBufferPointer(tail)
            compressBlocks(UnsafeRawBufferPointer(rebasing: raw[0..<(blocks * 64)]))
        }
    }

    static func hash(_ data: UnsafeRawBufferPointer, hardware: Bool = SHA256.hardwareAvailable) -> [UInt8] {
        var s = SHA256(hardware: hardware)
        s.update(data)
        return s.finalize()
    }

    /// The digest's first 64 bits (big-endian), in one pass without allocating: the targeting-key
    /// hash every recorded request carries. Same result as the first 8 bytes of `hash`.
    static func prefix64(_ data: UnsafeRawBufferPointer, hardware: Bool = SHA256.hardwareAvailable) -> UInt64 {
        let s = oneShot(data, hardware: hardware)
        return UInt64(s.h.0) << 32 | UInt64(s.h.1)
    }

    /// Appends the digest of `data` as lowercase hex, in one pass without allocating (a record
    /// with capture `hash` hashes three bodies; the buffered hasher and the digest array cost
    /// two allocations each).
    static func appendHex<B: ByteSink>(of data: UnsafeRawBufferPointer, into out: inout B) {
        appendHex(words: oneShot(data, hardware: SHA256.hardwareAvailable).h, into: &out)
    }

    /// The eight state words as the digest's 64 hex digits, written in place.
    private static func appendHex<B: ByteSink>(
        words: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32), into out: inout B
    ) {
        let hex: StaticString = "0123456789abcdef"
        out.appendInPlace(maxCount: 64) { text in
            withUnsafeBytes(of: words) { raw in
                for i in 0..<8 {
                    let word = raw.load(fromByteOffset: i * 4, as: UInt32.self)
                    for nibble in 0..<8 {
                        text[i * 8 + nibble] = hex.utf8Start[Int((word >> UInt32(28 - 4 * nibble)) & 15)]
                    }
                }
            }
            return 64
        }
    }

    /// The whole message at once: its blocks straight from `data`, the tail padded on the stack.
    private static func oneShot(_ data: UnsafeRawBufferPointer, hardware: Bool) -> SHA256 {
        var s = SHA256(noBlock: (), hardware: hardware)
        let whole = data.count / 64 * 64
        if whole > 0 { s.compressBlocks(UnsafeRawBufferPointer(rebasing: data[0..<whole])) }
        s.finish(rest: UnsafeRawBufferPointer(rebasing: data[whole...]), length: UInt64(data.count))
        return s
    }

    /// For `prefix64`, which never buffers a partial block.
    private init(noBlock: Void, hardware: Bool) {
        block = []
        self.hardware = hardware && SHA256.hardwareAvailable
    }

    @inline(__always)
    private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }

    /// Compresses whole 64-byte blocks (`p.count` a multiple of 64).
    private mutating func compressBlocks(_ p: UnsafeRawBufferPointer) {
        if hardware, let base = p.baseAddress {
            withUnsafeMutableBytes(of: &h) { state in
                mf_sha256_blocks(
                    state.baseAddress!.assumingMemoryBound(to: UInt32.self), base.assumingMemoryBound(to: UInt8.self),
                    p.count / 64)
            }
            return
        }
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            for i in stride(from: 0, to: p.count, by: 64) {
                compress(UnsafeRawBufferPointer(rebasing: p[i..<(i + 64)]), w)
            }
        }
    }

    private mutating func compress(_ p: UnsafeRawBufferPointer, _ w: UnsafeMutableBufferPointer<UInt32>) {
        for t in 0..<16 {
            w[t] =
                UInt32(p[t * 4]) << 24 | UInt32(p[t * 4 + 1]) << 16 | UInt32(p[t * 4 + 2]) << 8 | UInt32(p[t * 4 + 3])
        }
        for t in 16..<64 {
            let s0 = SHA256.rotr(w[t - 15], 7) ^ SHA256.rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
            let s1 = SHA256.rotr(w[t - 2], 17) ^ SHA256.rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
            w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
        }
        var (a, b, c, d, e, f, g, hh) = h
        let k = SHA256.k
        for t in 0..<64 {
            let s1 = SHA256.rotr(e, 6) ^ SHA256.rotr(e, 11) ^ SHA256.rotr(e, 25)
            let ch = (e & f) ^ (~e & g)
            let t1 = hh &+ s1 &+ ch &+ k[t] &+ w[t]
            let s0 = SHA256.rotr(a, 2) ^ SHA256.rotr(a, 13) ^ SHA256.rotr(a, 22)
            let maj = (a & b) ^ (a & c) ^ (b & c)
            let t2 = s0 &+ maj
            hh = g
            g = f
            f = e
            e = d &+ t1
            d = c
            c = b
            b = a
            a = t1 &+ t2
        }
        h = (h.0 &+ a, h.1 &+ b, h.2 &+ c, h.3 &+ d, h.4 &+ e, h.5 &+ f, h.6 &+ g, h.7 &+ hh)
    }
}

/// SHA-256 as lowercase hex.
enum Digest {
    static func sha256Hex<B: ByteSink>(_ bytes: UnsafeRawBufferPointer, into out: inout B) {
        SHA256.appendHex(of: bytes, into: &out)
    }
}
