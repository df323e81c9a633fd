import Foundation
import HTTP1
import Testing

@testable import Proxy

struct CaptureTextTests {
    func capture(_ bytes: [UInt8], cap: Int) -> (String, Bool) {
        var out: [UInt8] = []
        let cut = bytes.withUnsafeBytes { CaptureText.appendString(&out, $0, cap: cap) }
        return (String(decoding: out, as: UTF8.self), cut)
    }

    /// Records write into a `ByteWriter` (space lent uninitialized, written in place), other callers
    /// into arrays: the same bytes and the same verdict either way, including text with so many
    /// escapes that the first, smaller attempt does not fit.
    @Test func byteWriterAndArrayGiveTheSameText() {
        var rng = SystemRandomNumberGenerator()
        let writer = ByteWriter(capacity: 16)
        for round in 0..<300 {
            let alphabet: [UInt8] = round % 2 == 0 ? Array("ab \"\\\n\u{1}é".utf8) : Array("plain text ".utf8)
            let input = (0..<Int.random(in: 0...300, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            let cap = Int.random(in: 0...400, using: &rng)
            var array: [UInt8] = Array("prefix".utf8)
            writer.removeAll()
            writer.append("prefix")
            var w = writer
            let arrayCut = input.withUnsafeBytes { CaptureText.appendString(&array, $0, cap: cap) }
            let writerCut = input.withUnsafeBytes { CaptureText.appendString(&w, $0, cap: cap) }
            #expect(writer.array() == array && writerCut == arrayCut, "round \(round)")
        }
    }

    @Test func escapesAndKeepsValidUTF8() {
        let (s, cut) = capture(Array("a\"b\\c\n\u{1}é😀".utf8), cap: 100)
        #expect(s == #""a\"b\\c\n\u0001é😀""#)
        #expect(!cut)
    }

    @Test func invalidUTF8BecomesReplacementCharacters() {
        // A lone continuation byte, a truncated 3-byte sequence, an overlong NUL, a surrogate.
        let (s, _) = capture([0x41, 0x80, 0xE2, 0x82, 0x41, 0xC0, 0x80, 0xED, 0xA0, 0x80], cap: 100)
        #expect(s == "\"A\u{FFFD}\u{FFFD}\u{FFFD}A\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\"")
    }

    /// The cut never splits a character or an escape, whatever the cap.
    @Test func cutsOnlyBetweenWholeCharactersAndEscapes() {
        let input = Array("é\"😀x\n".utf8)
        for cap in 0...20 {
            let (s, cut) = capture(input, cap: cap)
            #expect(s.utf8.count <= cap + 2)
            #expect(s.hasPrefix("\"") && s.hasSuffix("\""))
            #expect(!s.dropLast().hasSuffix("\\") || s.dropLast().hasSuffix("\\\\"))
            #expect(cut == (cap < 11))  // é 2 + \" 2 + 😀 4 + x 1 + \n 2 = 11 bytes
        }
    }

    /// Random bytes and caps: the output is always a valid JSON string within the cap; uncut
    /// valid UTF-8 comes back exactly.
    @Test func randomInputsGiveValidJSONWithinTheCap() throws {
        var rng = SystemRandomNumberGenerator()
        let alphabet: [UInt8] =
            Array("ab \"\\\n\t{}".utf8) + [
                0x00, 0x1F, 0x7F, 0x80, 0xBF, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80, 0xFF,
            ]
        for _ in 0..<3000 {
            // Long plain runs too, so the eight-bytes-at-a-time path meets specials at every offset.
            let bytes = (0..<Int.random(in: 0..<100, using: &rng)).map { _ in
                Bool.random(using: &rng) ? UInt8(ascii: "a") : alphabet.randomElement(using: &rng)!
            }
            let cap = Int.random(in: 0..<160, using: &rng)
            let (s, cut) = capture(bytes, cap: cap)
            #expect(s.utf8.count <= cap + 2)
            let decoded = try JSONSerialization.jsonObject(with: Data(("[" + s + "]").utf8)) as? [String]
            #expect(decoded != nil, "\(bytes)")
            if !cut, let text = String(validating: bytes, as: UTF8.self) { #expect(decoded?.first == text) }
        }
    }

    /// The specification, one character at a time: what `appendString` must write, byte for byte.
    func reference(_ bytes: [UInt8], cap: Int) -> ([UInt8], Bool) {
        var out: [UInt8] = [0x22]
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            var unit: [UInt8]
            var len = 1
            switch b {
            case 0x22, 0x5C: unit = [0x5C, b]
            case 0x0A: unit = Array("\\n".utf8)
            case 0x0D: unit = Array("\\r".utf8)
            case 0x09: unit = Array("\\t".utf8)
            case 0..<0x20: unit = Array(String(format: "\\u%04x", b).utf8)
            case 0x20..<0x80: unit = [b]
            default:
                // The longest valid UTF-8 sequence starting here, else one byte as U+FFFD.
                unit = [0xEF, 0xBF, 0xBD]
                for n in [2, 3, 4] where i + n <= bytes.count {
                    if String(validating: bytes[i..<(i + n)], as: UTF8.self) != nil {
                        unit = Array(bytes[i..<(i + n)])
                        len = n
                        break
                    }
                }
            }
            if out.count - 1 + unit.count > cap { return (out + [0x22], true) }
            out += unit
            i += len
        }
        return (out + [0x22], false)
    }

    /// Sixteen bytes at a time in C: every byte value at every offset of a block, long plain runs,
    /// caps that fall inside blocks, escapes and characters; the result equals the reference.
    @Test func escapingEqualsTheReferenceAtEveryOffset() {
        var rng = SystemRandomNumberGenerator()
        for round in 0..<4000 {
            let length = Int.random(in: 0..<90, using: &rng)
            var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
            for k in bytes.indices where Int.random(in: 0..<(round % 3 == 0 ? 4 : 24), using: &rng) == 0 {
                bytes[k] = UInt8.random(in: 0...255, using: &rng)
            }
            if round % 5 == 0, length > 4 {  // a well-formed character at a random offset
                let ch = Array(["é", "€", "😀", "\u{7F}"].randomElement(using: &rng)!.utf8)
                let at = Int.random(in: 0..<(length - ch.count), using: &rng)
                bytes.replaceSubrange(at..<(at + ch.count), with: ch)
            }
            let cap = round % 4 == 0 ? 1000 : Int.random(in: 0..<120, using: &rng)
            var out: [UInt8] = []
            let cut = bytes.withUnsafeBytes { CaptureText.appendString(&out, $0, cap: cap) }
            let (expected, expectedCut) = reference(bytes, cap: cap)
            #expect(out == expected && cut == expectedCut, "\(bytes) cap \(cap)")
        }
    }
}
