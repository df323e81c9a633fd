import Foundation
import Testing

/// Reliability cases C31–C36: upstream faults become 502/504 JSON errors before the response
/// started, and an aborted (never completed) response after it started.
@Suite(.serialized) struct UpstreamFaultTests {
    @Test func unreachableUpstreamIs502() throws {
        // Find a port nobody listens on: bind, read the port, close.
        let probe = try Spawned(["stub-model", "--listen", "127.0.0.1:0"], roles: ["stand-in"])
        let deadPort = probe.port("stand-in")
        probe.stop()
        let proxy = try Spawned(
            ["run", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(deadPort)"], roles: ["proxy"])
        let c = try Client(port: proxy.port("proxy"))
        let r = try c.request(chatRequest())
        #expect(r.status == 502)
        #expect(r.bodyText.contains("\"code\":\"upstream_unreachable\""))
        // The client connection stays usable.
        #expect(try c.request(chatRequest()).status == 502)
    }

    @Test(arguments: [
        ("reset", 502, "upstream_reset"), ("malformed", 502, "upstream_bad_response"),
        ("bare-lf", 502, "upstream_bad_response"), ("huge-headers", 502, "upstream_bad_response"),
        ("hang", 504, "upstream_timeout"),
    ])
    func faultsBeforeTheHead(_ fault: String, _ status: Int, _ code: String) throws {
        let stack = try Stack(proxyArgs: ["--upstream-header-timeout", "500ms"])
        let c = try Client(port: stack.port)
        let r = try c.request(chatRequest(extra: "X-StandIn-Fault: \(fault)\r\n"))
        #expect(r.status == status)
        #expect(r.bodyText.contains("\"code\":\"\(code)\""))
        // The broken upstream connection is not reused: the next request works.
        #expect(try c.request(chatRequest()).status == 200)
    }

    @Test func upstreamDyingMidStreamAbortsTheClient() throws {
        let stack = try Stack()
        let c = try Client(port: stack.port)
        c.send(chatRequest(#"{"stream":true,"messages":[]}"#, extra: "X-StandIn-Fault: close-mid-stream\r\n"))
        let all = String(decoding: c.readToEnd(), as: UTF8.self)
        #expect(all.hasPrefix("HTTP/1.1 200 OK"))
        #expect(all.contains("data: "))
        // Never the final chunk: the client can tell the stream is incomplete.
        #expect(!all.hasSuffix("0\r\n\r\n"))
        #expect(!all.contains("[DONE]"))
        #expect(try stack.metric("modelflag_upstream_errors_total{kind=\"reset\"}") == 1)
    }

    /// A bad chunk in the same read as the head: nothing reached the client yet, so it still gets a 502.
    @Test func badChunkWithTheHeadIsA502() throws {
        let stack = try Stack()
        let c = try Client(port: stack.port)
        let r = try c.request(chatRequest(extra: "X-StandIn-Fault: bad-chunk\r\n"))
        #expect(r.status == 502)
        #expect(r.bodyText.contains("\"code\":\"upstream_bad_response\""))
        #expect(!r.bodyText.contains("hello"))
    }
}
