import Testing

@testable import HTTP1

struct JSONTextTests {
    /// The escaping as RFC 8259 states it, one byte at a time: the reference for the fast path.
    static func reference(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x22]
        let hex = Array("0123456789abcdef".utf8)
        for b in bytes {
            switch b {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0..<0x20: out += [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]]
            default: out.append(b)
            }
        }
        out.append(0x22)
        return out
    }

    @Test func escapesQuotesBackslashesAndControlBytes() {
        var out: [UInt8] = []
        JSONText.appendString(&out, Array("say \"hi\"\\\n\t\r\u{1}\u{1F}é".utf8))
        #expect(String(decoding: out, as: UTF8.self) == #""say \"hi\"\\\n\t\r\u0001\u001fé""#)
    }

    /// Contiguous input (the word-at-a-time path) and a lazy sequence (byte by byte) both give
    /// the reference output, for random lengths across word boundaries and special bytes at
    /// every position.
    @Test func matchesTheReferenceOnRandomInput() {
        var rng = SystemRandomNumberGenerator()
        let alphabet: [UInt8] =
            Array("abcXYZ 09{}:,".utf8) + [0x00, 0x09, 0x0A, 0x1F, 0x22, 0x5C, 0x7F, 0x80, 0xC3, 0xA9, 0xFF]
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0..<70, using: &rng)).map { _ in
                Int.random(in: 0..<4, using: &rng) == 0 ? alphabet.randomElement(using: &rng)! : UInt8(ascii: "a")
            }
            var fast: [UInt8] = []
            JSONText.appendString(&fast, bytes)
            var slow: [UInt8] = []
            JSONText.appendString(&slow, bytes.lazy.map { $0 })
            let expected = JSONTextTests.reference(bytes)
            #expect(fast == expected, "\(bytes)")
            #expect(slow == expected, "\(bytes)")
        }
    }

    /// `plainRunEnd` finds the first byte that needs care at every offset of a word, and only it:
    /// a special byte followed by others (borrows) still reports the first one.
    @Test func plainRunEndFindsTheFirstSpecialByte() {
        let specials: [UInt8] = [0x00, 0x0A, 0x1F, 0x22, 0x5C, 0x80, 0xFF]
        for length in 0..<40 {
            for position in 0...length {
                for special in specials {
                    var bytes = [UInt8](repeating: UInt8(ascii: "m"), count: length)
                    if position < length {
                        bytes[position] = special
                        for k in (position + 1)..<length where k % 3 == 0 { bytes[k] = 0x00 }
                    }
                    let end = bytes.withUnsafeBytes { JSONText.plainRunEnd($0, from: 0, to: $0.count) }
                    #expect(end == position, "length \(length) position \(position) byte \(special)")
                }
            }
        }
        // Plain bytes next to the special values (0x1F/0x20, 0x21/0x22/0x23, 0x5B/0x5C/0x5D, 0x7F/0x80).
        let plain: [UInt8] = [0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7E, 0x7F, 0x41, 0x20]
        let end = plain.withUnsafeBytes { JSONText.plainRunEnd($0, from: 0, to: $0.count) }
        #expect(end == plain.count)
    }
}
