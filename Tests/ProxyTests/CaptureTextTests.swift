import Testing

@testable import Proxy

struct CaptureTextTests {
    func capture(_ bytes: [UInt8], cap: Int) -> (String, Bool) {
        var out: [UInt8] = []
        let cut = bytes.withUnsafeBytes { CaptureText.appendString(&out, $0, cap: cap) }
        return (String(decoding: out, as: UTF8.self), cut)
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
}
