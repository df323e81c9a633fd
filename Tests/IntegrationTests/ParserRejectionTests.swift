import Foundation
import Testing

/// Reliability cases A and B26/B27: every refused request gets its status then a close; the upstream
/// gets zero bytes; a pipelined `GET /canary` behind it is never answered.
@Suite(.serialized) struct ParserRejectionTests {
    static let cases: [(String, Int)] = [
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400),
        ("GET / HTTP/1.1\nHost: a\n\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\n", 400),
        ("GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        ("GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "b", count: 70_000) + "\r\n\r\n", 431),
        ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n", 413),
        (
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n"
                + String(repeating: "c", count: 2048) + "\r\n0\r\n\r\n", 413
        ),
    ]

    @Test func refusedRequestsAreAnsweredClosedAndNeverForwarded() throws {
        let stack = try Stack(proxyArgs: ["--max-body", "1KiB"])
        for (request, status) in Self.cases {
            let c = try Client(port: stack.port)
            c.send(request + "GET /canary HTTP/1.1\r\nHost: a\r\n\r\n")
            let r = try c.readResponse()
            #expect(r.status == status, "\(request.prefix(80).debugDescription)")
            #expect(r.header("connection") == "close")
            #expect(r.bodyText.contains("\"type\":\"modelflag_error\""))
            let rest = c.readToEnd()
            #expect(rest.isEmpty, "canary answered after \(request.prefix(60).debugDescription)")
        }
        #expect(try stack.metric("modelflag_upstream_connects_total") == 0)
        #expect(try stack.metric("modelflag_requests_total{class=\"4xx\"}") == Double(Self.cases.count - 1))
        #expect(stack.proxy.log.contains("\"event\":\"http_error\""))
    }

    @Test func slowHeaderAndSlowBodyGet408() throws {
        let stack = try Stack(proxyArgs: ["--header-timeout", "300ms", "--body-timeout", "300ms"])
        let slowHead = try Client(port: stack.port)
        slowHead.send("GET /v1/models HTTP/1.1\r\nHo")
        let r = try slowHead.readResponse()
        #expect(r.status == 408)
        #expect(r.bodyText.contains("header_timeout"))

        let slowBody = try Client(port: stack.port)
        slowBody.send("POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n{\"a\":")
        let r2 = try slowBody.readResponse()
        #expect(r2.status == 408)
        #expect(try stack.metric("modelflag_upstream_connects_total") == 0)

        // A connection that never sends a byte is closed silently at the header deadline.
        let silent = try Client(port: stack.port)
        #expect(silent.readToEnd().isEmpty)
    }

    @Test func slowlorisConnectionsDoNotBlockANormalClient() throws {
        let stack = try Stack()
        var slow: [Client] = []
        for _ in 0..<300 {
            let c = try Client(port: stack.port)
            c.send("GET / HTTP/1.1\r\nX: ")
            slow.append(c)
        }
        let normal = try Client(port: stack.port)
        for _ in 0..<10 { #expect(try normal.request(chatRequest()).status == 200) }
        #expect(try stack.metric("modelflag_client_connections_active") == 301)
    }

    @Test func connectionLimitAndIdleTimeout() throws {
        let stack = try Stack(proxyArgs: ["--max-connections", "2", "--keepalive-timeout", "300ms"])
        let a = try Client(port: stack.port)
        #expect(try a.request(chatRequest()).status == 200)
        let b = try Client(port: stack.port)
        #expect(try b.request(chatRequest()).status == 200)
        let c = try Client(port: stack.port)
        let r = try c.readResponse()
        #expect(r.status == 503)
        // Idle keep-alive connections are closed after the keep-alive timeout.
        #expect(a.isClosedByPeer())
    }
}
