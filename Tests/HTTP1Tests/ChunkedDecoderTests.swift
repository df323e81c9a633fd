import HTTP1
import Testing

@Suite struct ChunkedDecoderTests {
    let valid = Array("5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT".utf8)

    @Test func decodesAndStopsAtTheEnd() {
        let (body, result) = decodeChunked(valid)
        #expect(body == Array("hello world".utf8))
        #expect(result == .done(consumed: valid.count - 4))
    }

    @Test func everySplitDecodesTheSame() {
        for i in 0...valid.count {
            for j in i...valid.count {
                let (body, result) = decodeChunked(valid, splitAt: [i, j])
                #expect(body == Array("hello world".utf8), "split \(i) \(j)")
                #expect(result == .done(consumed: valid.count - 4), "split \(i) \(j)")
            }
        }
    }

    // Reliability cases A13–A16.
    @Test(arguments: [
        "5\r\nhelloXX0\r\n\r\n",  // data not followed by CRLF
        "5\r\nhello\n0\r\n\r\n",  // bare LF after data
        "5;a\nb\r\nhello\r\n0\r\n\r\n",  // LF in extension
        "5;a\rb\r\nhello\r\n0\r\n\r\n",  // CR in extension
        "\r\nhello\r\n0\r\n\r\n",  // empty size
        "0x5\r\nhello\r\n0\r\n\r\n", "+5\r\nhello\r\n0\r\n\r\n", "-1\r\nhello\r\n0\r\n\r\n",
        "5_0\r\nhello\r\n0\r\n\r\n", " 5\r\nhello\r\n0\r\n\r\n", "5 x\r\nhello\r\n0\r\n\r\n",
        "zz\r\nhello\r\n0\r\n\r\n",
        "10000000000000005\r\nhello\r\n0\r\n\r\n",  // 17 hex digits: overflow refused
        "5\r\nhello\r\n0\r\nBad\0Trailer\r\n\r\n",
    ])
    func malformed(_ text: String) {
        let (_, result) = decodeChunked(Array(text.utf8))
        guard case .failed(let e) = result else {
            Issue.record("accepted \(text.debugDescription)")
            return
        }
        #expect(e.status == 400 || e.status == 413 || e.status == 431)
    }

    @Test func sizeAboveBodyLimitIs413() {
        let (_, result) = decodeChunked(Array("100000002\r\n".utf8), maxBody: 8 << 20)
        #expect(result == .failed(.bodyTooLarge))
    }

    @Test func extensionBombStopsAtTheLimit() {
        let bomb = Array("5;".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20)
        let (_, result) = decodeChunked(bomb)
        #expect(result == .failed(.badChunk))
    }

    @Test func leadingZerosAndWhitespaceBeforeExtension() {
        let (body, result) = decodeChunked(Array("0005 ;x\r\nhello\r\n00\r\n\r\n".utf8))
        #expect(body == Array("hello".utf8))
        #expect(result == .done(consumed: 22))
    }
}
