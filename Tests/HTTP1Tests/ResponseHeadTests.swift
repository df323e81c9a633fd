import HTTP1
import Testing

func parseResponse(_ text: String) -> Result<ResponseHead, HTTPError> {
    let bytes = Array(text.utf8)
    return bytes.withUnsafeBytes { p in Result { () throws(HTTPError) in try ResponseHead.parse(p, limits: Limits()) } }
}

@Suite struct ResponseHeadTests {
    @Test func framingRules() throws {
        let ok = try parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n").get()
        #expect(ok.status == 200)
        #expect(ok.framing(requestWasHEAD: false) == .length(7))
        #expect(ok.framing(requestWasHEAD: true) == .none)
        let chunked = try parseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").get()
        #expect(chunked.framing(requestWasHEAD: false) == .chunked)
        let close = try parseResponse("HTTP/1.0 200 OK\r\n\r\n").get()
        #expect(close.framing(requestWasHEAD: false) == .untilClose)
        #expect(!close.keepAlive)
        for status in [204, 304] {
            let r = try parseResponse("HTTP/1.1 \(status) X\r\nContent-Length: 10\r\n\r\n").get()
            #expect(r.framing(requestWasHEAD: false) == .none)
        }
        let noReason = try parseResponse("HTTP/1.1 200\r\n\r\n").get()
        #expect(noReason.status == 200)
    }

    // Reliability case C32: malformed upstream responses.
    @Test(arguments: [
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
    ])
    func malformed(_ text: String) {
        #expect(throws: HTTPError.self) { try parseResponse(text).get() }
    }
}

@Suite struct SerializerTests {
    @Test func chunkHeaders() {
        var buf = [UInt8](repeating: 0, count: 20)
        for (size, hex) in [(0, "0"), (15, "f"), (16, "10"), (716, "2cc"), (1 << 20, "100000")] {
            let n = buf.withUnsafeMutableBytes { ChunkFraming.header(size, into: $0) }
            #expect(Array(buf[0..<n]) == Array((hex + "\r\n").utf8))
        }
    }

    @Test func decimals() {
        var w = HeadWriter()
        w.appendDecimal(0)
        w.append(" ")
        w.appendDecimal(8_388_608)
        #expect(w.bytes == Array("0 8388608".utf8))
    }
}
