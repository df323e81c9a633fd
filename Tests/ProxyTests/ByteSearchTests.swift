import Testing

@testable import Proxy

struct ByteSearchTests {
    static func naive(_ needle: [UInt8], _ hay: [UInt8], from: Int) -> Int? {
        guard needle.count <= hay.count else { return nil }
        var i = from
        while i + needle.count <= hay.count {
            if Array(hay[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }

    /// Random haystacks made of the needles' own bytes (many near misses), from many start offsets
    /// (negative and past the end included): the same answer as a byte-by-byte search, for needles of one, two and many bytes.
    @Test func agreesWithANaiveSearch() {
        var rng = SystemRandomNumberGenerator()
        let needles: [StaticString] = ["\"", "\"c", "c\"", "\"content\"", "\"finish_reason\""]
        let alphabet = Array("\"contefish_r: ".utf8)
        for _ in 0..<500 {
            var hay = (0..<Int.random(in: 0..<140, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            // Matches, and near misses that share the bytes the search tests first (a match can
            // follow one within the same eight starts).
            for _ in 0..<Int.random(in: 0...3, using: &rng) where !hay.isEmpty {
                let at = Int.random(in: 0..<hay.count, using: &rng)
                let piece = ["\"content\"", "\"cintent\"", "\"c\"content\"", "\"finish_raason\""].randomElement(
                    using: &rng)!
                hay.insert(contentsOf: Array(piece.utf8), at: at)
            }
            for needle in needles {
                let bytes = Array(UnsafeBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount))
                for from in stride(from: -1, through: hay.count + 1, by: 3) {
                    let found = hay.withUnsafeBytes { ByteSearch.find(needle, in: $0, from: from) }
                    #expect(found == Self.naive(bytes, hay, from: max(from, 0)), "\(needle) in \(hay) from \(from)")
                }
            }
        }
    }

    /// Two-letter texts of up to 260 bytes and random two-letter needles of 1 to 12 bytes (pairs
    /// that repeat inside the key, windows that fail the compare right before a match), and a key
    /// longer than 256 bytes: the same answer as a byte-by-byte search.
    @Test func repeatedPairsNeverSkipAMatch() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            let hay = (0..<Int.random(in: 0..<260, using: &rng)).map { _ in Bool.random(using: &rng) ? UInt8(97) : 98 }
            let needle = (0..<Int.random(in: 1...12, using: &rng)).map { _ in Bool.random(using: &rng) ? UInt8(97) : 98
            }
            let from = Int.random(in: 0...40, using: &rng)
            let found = hay.withUnsafeBytes { h in needle.withUnsafeBytes { ByteSearch.find($0, in: h, from: from) } }
            #expect(found == Self.naive(needle, hay, from: from), "\(needle) in \(hay) from \(from)")
        }
        let long = (0..<300).map { UInt8(97 + $0 % 7) }
        let hay = Array(repeating: UInt8(97), count: 50) + long + long
        let found = hay.withUnsafeBytes { h in long.withUnsafeBytes { ByteSearch.find($0, in: h) } }
        #expect(found == 50)
    }
}
