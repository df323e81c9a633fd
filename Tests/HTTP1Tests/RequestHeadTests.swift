import HTTP1
import Testing

@Suite struct RequestHeadTests {
    @Test func simpleGet() throws {
        let h = try #require(head(of: parseRequest("GET /v1/models HTTP/1.1\r\nHost: a\r\nX-Y: z \r\n\r\n")))
        #expect(h.methodString == "GET")
        #expect(h.targetString == "/v1/models")
        #expect(!h.isHTTP10)
        #expect(h.keepAlive)
        #expect(h.framing == .none)
        #expect(h.value(of: "x-y") == "z")
        #expect(h.fields.count == 2)
    }

    @Test func postWithLengthAndChunked() throws {
        let a = try #require(head(of: parseRequest("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n")))
        #expect(a.framing == .length(12))
        let b = try #require(head(of: parseRequest("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n")))
        #expect(b.framing == .chunked)
    }

    @Test func everySplitGivesTheSameHead() throws {
        let text = Array(
            "\r\nPOST /x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n\r\n"
                .utf8)
        let whole = try #require(head(of: parseRequest(text)))
        let grown = try #require(head(of: parseRequest(text, incremental: true)))
        #expect(whole.bytes == grown.bytes)
        #expect(grown.framing == .length(5))
        #expect(!grown.keepAlive)
        #expect(grown.isConnectionNamed(grown.fields[3]))
    }

    @Test func http10KeepAliveRules() throws {
        let a = try #require(head(of: parseRequest("GET / HTTP/1.0\r\n\r\n")))
        #expect(a.isHTTP10 && !a.keepAlive)
        let b = try #require(head(of: parseRequest("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")))
        #expect(b.keepAlive)
    }

    @Test func expectContinue() throws {
        let a = try #require(
            head(of: parseRequest("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")))
        #expect(a.expectContinue)
        #expect(error(of: parseRequest("POST / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n"))?.status == 417)
    }

    @Test func requestIdPassThroughOnlyWhenPlain() throws {
        let a = try #require(head(of: parseRequest("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: abc-123\r\n\r\n")))
        #expect(a.requestIdField == 1)
        let b = try #require(head(of: parseRequest("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: a b\r\n\r\n")))
        #expect(b.requestIdField == nil)
    }

    // Reliability cases A1–A3: Content-Length.
    @Test(arguments: [
        "Content-Length: 5\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: chunked\r\nContent-Length: 5",
        "Content-Length: 5\r\nContent-Length: 6",
        "Content-Length: 5, 6",
        "Content-Length:\r\nContent-Length: 43",
        "Content-Length: +5", "Content-Length: -1", "Content-Length: -0", "Content-Length: 0x10",
        "Content-Length: 1_0", "Content-Length: 5 5", "Content-Length: 5a", "Content-Length: ",
        "Content-Length: 99999999999999999999",
    ])
    func badContentLength(_ fields: String) {
        let e = error(of: parseRequest("POST / HTTP/1.1\r\nHost: a\r\n\(fields)\r\n\r\n"))
        #expect(e?.status == 400, "\(fields)")
    }

    @Test func repeatedEqualContentLengthIsOneLength() throws {
        let h = try #require(
            head(of: parseRequest("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n")))
        #expect(h.framing == .length(5))
    }

    // A4–A6: Transfer-Encoding obfuscations.
    @Test(arguments: [
        Array(",chunked".utf8), Array("chunked,".utf8), [0x0B] + Array("chunked".utf8), [0x0C] + Array("chunked".utf8),
        [0xA0] + Array("chunked".utf8), Array("chunked".utf8) + [0x00], Array("chunked, chunked".utf8),
        Array("xchunked".utf8), Array("identity".utf8), Array("pigeons".utf8), [], Array("gzip, chunked".utf8),
    ])
    func badTransferEncoding(_ value: [UInt8]) {
        let bytes = Array("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ".utf8) + value + Array("\r\n\r\n".utf8)
        #expect(error(of: parseRequest(bytes))?.status == 400)
    }

    @Test func twoTransferEncodingFieldsAndHTTP10() {
        #expect(
            error(
                of: parseRequest(
                    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"))?
                .status == 400)
        #expect(error(of: parseRequest("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"))?.status == 400)
    }

    // A7–A12: field syntax.
    @Test(arguments: [
        "GET / HTTP/1.1\r\nHost : a\r\n\r\n",  // space before colon
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",  // obs-fold
        "GET / HTTP/1.1\r\n Host: a\r\n\r\n",  // whitespace before first field
        "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nBad[Name]: x\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",  // no Host
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a,b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\u{7F}b\r\n\r\n",
    ])
    func badFields(_ text: String) {
        #expect(error(of: parseRequest(text))?.status == 400, "\(text.debugDescription)")
    }

    @Test func bareLineEndingsAndNul() {
        #expect(error(of: parseRequest("GET / HTTP/1.1\nHost: a\n\n")) == .bareLF)
        #expect(error(of: parseRequest("GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n")) == .bareCR)
        #expect(
            error(of: parseRequest(Array("GET / HTTP/1.1\r\nHost: a\r\nX: a".utf8) + [0] + Array("b\r\n\r\n".utf8)))?
                .status == 400)
        // Bare LF is rejected as soon as it arrives, even before the head is complete.
        var scanner = HeadScanner()
        let partial = Array("GET / HTTP/1.1\n".utf8)
        let r = partial.withUnsafeBytes { scanner.scan($0, maxStartLine: 8192, maxHead: 65536) }
        #expect(r == .failed(.bareLF))
    }

    // A19: request lines.
    @Test(arguments: [
        "GET /\r\n\r\n",  // HTTP/0.9
        "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
        "GET / http/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.1x\r\nHost: a\r\n\r\n",
        "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET nopath HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /\u{7F} HTTP/1.1\r\nHost: a\r\n\r\n",
    ])
    func badRequestLines(_ text: String) {
        #expect(error(of: parseRequest(text))?.status == 400, "\(text.debugDescription)")
    }

    @Test func versionsAndMethods() {
        #expect(error(of: parseRequest("GET / HTTP/2.0\r\nHost: a\r\n\r\n"))?.status == 505)
        #expect(error(of: parseRequest("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n"))?.status == 405)
        #expect(head(of: parseRequest("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")) != nil)
        #expect(head(of: parseRequest("GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n")) != nil)
    }

    // B26 and limits.
    @Test func limits() {
        let longTarget = "GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\nHost: a\r\n\r\n"
        #expect(error(of: parseRequest(longTarget))?.status == 414)
        let bigHeader = "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "b", count: 70_000) + "\r\n\r\n"
        #expect(error(of: parseRequest(bigHeader))?.status == 431)
        var many = "GET / HTTP/1.1\r\nHost: a\r\n"
        for i in 0..<120 { many += "X-\(i): y\r\n" }
        #expect(error(of: parseRequest(many + "\r\n"))?.status == 431)
        var small = Limits()
        small.maxBody = 10
        #expect(
            error(of: parseRequest("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", limits: small))?.status
                == 413)
        // An incomplete request line that is already too long fails without waiting for its end.
        var scanner = HeadScanner()
        let partial = Array(("GET /" + String(repeating: "a", count: 9000)).utf8)
        let r = partial.withUnsafeBytes { scanner.scan($0, maxStartLine: 8192, maxHead: 65536) }
        #expect(r == .failed(.uriTooLong))
    }

    @Test func underscoreNamesAreMarked() throws {
        let h = try #require(head(of: parseRequest("GET / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\n\r\n")))
        #expect(h.framing == .none)
        #expect(h.fields[1].hasUnderscore)
        #expect(h.fields[1].known == .other)
    }
}
