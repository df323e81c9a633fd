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

    /// Random haystacks made of the needles' own bytes (many near misses), every start offset:
    /// the same answer as a byte-by-byte search, for needles of one, two and many bytes.
    @Test func agreesWithANaiveSearch() {
        var rng = SystemRandomNumberGenerator()
        let needles: [StaticString] = ["\"", "\"c", "\"content\"", "\"finish_reason\""]
        let alphabet = Array("\"contefish_r: ".utf8)
        for _ in 0..<500 {
            var hay = (0..<Int.random(in: 0..<80, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            if Bool.random(using: &rng), !hay.isEmpty {
                let at = Int.random(in: 0..<hay.count, using: &rng)
                hay.insert(contentsOf: Array("\"content\"".utf8), at: at)
            }
            for needle in needles {
                let bytes = Array(UnsafeBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount))
                for from in stride(from: 0, through: hay.count, by: 7) {
                    let found = hay.withUnsafeBytes { ByteSearch.find(needle, in: $0, from: from) }
                    #expect(found == Self.naive(bytes, hay, from: from), "\(needle) in \(hay) from \(from)")
                }
            }
        }
    }
}
