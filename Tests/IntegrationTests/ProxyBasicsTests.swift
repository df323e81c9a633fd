import Foundation
import Testing

@Suite(.serialized) struct ProxyBasicsTests {
    @Test func forwardsJSONAndTagsRequestIds() throws {
        let stack = try Stack()
        let c = try Client(port: stack.port)
        let r = try c.request(chatRequest())
        #expect(r.status == 200)
        #expect(r.bodyText.contains("\"chat.completion\""))
        let generated = try #require(r.header("x-request-id"))
        #expect(generated.count == 32)
        let r2 = try c.request(chatRequest(extra: "X-Request-Id: my-id-1\r\n"))
        #expect(r2.header("x-request-id") == "my-id-1")
        // Same prompt, same model: the stand-in's answer is deterministic through the proxy.
        let content = { (s: String) in s.components(separatedBy: "\"content\":").dropFirst().first ?? "" }
        #expect(!content(r.bodyText).isEmpty)
        #expect(content(r2.bodyText) == content(r.bodyText))
    }

    /// SIGHUP without a rules file is logged and ignored: its default action would end the sidecar.
    @Test func sighupWithoutRulesIsIgnored() throws {
        let stack = try Stack()
        stack.proxy.signal(SIGHUP)
        stack.model.signal(SIGHUP)  // the stand-in has nothing to reload either
        usleep(300_000)
        #expect(stack.proxy.isRunning)
        #expect(stack.model.isRunning)
        #expect(stack.proxy.log.contains("\"event\":\"sighup_ignored\""))
        #expect(try Client(port: stack.port).request(chatRequest()).status == 200)
    }

    @Test func keepAliveReusesUpstreamConnections() throws {
        let stack = try Stack()
        let c = try Client(port: stack.port)
        for _ in 0..<5 {
            #expect(try c.request(chatRequest()).status == 200)
        }
        #expect(try stack.metric("modelflag_upstream_connects_total") == 1)
        #expect(try stack.metric("modelflag_pool_reuse_total") == 4)
    }

    @Test func pipelinedRequestsAnswerInOrder() throws {
        let stack = try Stack()
        let c = try Client(port: stack.port)
        let a = chatRequest(#"{"messages":[{"role":"user","content":"first"}]}"#, extra: "X-Request-Id: req-a\r\n")
        let b = "GET /v1/models HTTP/1.1\r\nHost: m\r\nX-Request-Id: req-b\r\n\r\n"
        let d = chatRequest(#"{"messages":[{"role":"user","content":"third"}]}"#, extra: "X-Request-Id: req-c\r\n")
        c.send(a + b + d)
        let ids = try (0..<3).map { _ in try c.readResponse().header("x-request-id") }
        #expect(ids == ["req-a", "req-b", "req-c"])
    }

    @Test func chunkedRequestBodyIsReframed() throws {
        let stack = try Stack()
        let c = try Client(port: stack.port)
        let plain = try c.request(chatRequest())
        let body = Array(chatBody.utf8)
        let half = body.count / 2
        var chunked = "POST /v1/chat/completions HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunked += String(half, radix: 16) + "\r\n" + String(decoding: body[0..<half], as: UTF8.self) + "\r\n"
        chunked +=
            String(body.count - half, radix: 16) + ";ext=1\r\n" + String(decoding: body[half...], as: UTF8.self)
            + "\r\n0\r\n\r\n"
        let r = try c.request(chunked)
        #expect(r.status == 200)
        // The stand-in derives content from the exact body bytes: identical answer means identical body.
        let content = { (s: String) in s.components(separatedBy: "\"content\":").dropFirst().first ?? "" }
        #expect(content(r.bodyText) == content(plain.bodyText))
    }

    @Test func http10AndHeadAndExpectContinue() throws {
        let stack = try Stack()
        let c10 = try Client(port: stack.port)
        let r10 = try c10.request("GET /v1/models HTTP/1.0\r\n\r\n")
        #expect(r10.status == 200)
        #expect(r10.bodyText.contains("stand-in"))
        #expect(c10.isClosedByPeer())

        let ch = try Client(port: stack.port)
        let head = try ch.request("HEAD /healthz HTTP/1.1\r\nHost: m\r\n\r\n", headRequest: true)
        #expect(head.status == 200)
        #expect(try ch.request("GET /v1/models HTTP/1.1\r\nHost: m\r\n\r\n").status == 200)  // no leftover body bytes

        let ce = try Client(port: stack.port)
        let body = Array(chatBody.utf8)
        ce.send(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: m\r\nExpect: 100-continue\r\nContent-Length: \(body.count)\r\n\r\n"
        )
        #expect(ce.readChunk().hasPrefix("HTTP/1.1 100 Continue\r\n\r\n"))
        ce.send(body)
        #expect(try ce.readResponse().status == 200)
    }

    @Test func hopByHopHeadersAreNotForwarded() throws {
        let stack = try Stack()
        let c = try Client(port: stack.port)
        // Connection names a header: it must be stripped; Keep-Alive/TE/Upgrade never pass.
        // The stand-in would fail on an unknown fault value, so a forwarded X-StandIn-Fault shows up as 400.
        let r = try c.request(
            chatRequest(
                extra: "Connection: X-StandIn-Fault\r\nX-StandIn-Fault: reset\r\nUpgrade: h2c\r\nTE: trailers\r\n"))
        #expect(r.status == 200)
        let r2 = try c.request(chatRequest(extra: "X_StandIn_Fault: reset\r\n"))
        #expect(r2.status == 200)
    }

    @Test func adminEndpoints() throws {
        let stack = try Stack()
        let a = try Client(port: stack.adminPort)
        #expect(try a.request("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n").status == 200)
        #expect(try a.request("GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n").status == 200)
        #expect(try a.request("GET /nope HTTP/1.1\r\nHost: a\r\n\r\n").status == 404)
        let c = try Client(port: stack.port)
        _ = try c.request(chatRequest())
        let m = try a.request("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(m.header("content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
        #expect(m.bodyText.contains("modelflag_requests_total{class=\"2xx\"} 1"))
        #expect(m.bodyText.contains("modelflag_request_duration_seconds_count 1"))
        #expect(m.bodyText.contains("modelflag_client_connections_active 1"))
    }

    @Test func twoWorkersShareThePort() throws {
        let stack = try Stack(proxyArgs: ["--workers", "2"])
        for _ in 0..<20 {
            let c = try Client(port: stack.port)
            #expect(try c.request(chatRequest()).status == 200)
        }
        #expect(try stack.metric("modelflag_requests_total{class=\"2xx\"}") == 20)
    }
}
