import Foundation
import Testing

@Suite(.serialized) struct StreamingTests {
    /// SSE is forwarded event by event: the first read holds the first event and not the end.
    @Test func sseArrivesEventByEvent() throws {
        let stack = try Stack(modelArgs: ["--stream-events", "5", "--stream-interval", "300ms"])
        let c = try Client(port: stack.port)
        c.send(chatRequest(#"{"stream":true,"messages":[{"role":"user","content":"hi"}]}"#))
        var first = c.readChunk()
        if !first.contains("data: ") { first += c.readChunk() }
        #expect(first.contains("HTTP/1.1 200 OK"))
        #expect(first.contains("Transfer-Encoding: chunked"))
        #expect(first.contains("text/event-stream"))
        #expect(first.components(separatedBy: "data: ").count == 2, "exactly one event in the first read")
        #expect(!first.contains("[DONE]"))
        let rest = c.readToEnd()  // then the rest, through keep-alive close at the end of the test
        _ = rest
    }

    @Test func wholeStreamArrivesIntact() throws {
        let stack = try Stack(modelArgs: ["--stream-events", "6", "--stream-interval", "10ms"])
        let c = try Client(port: stack.port)
        let r = try c.request(chatRequest(#"{"stream":true,"messages":[{"role":"user","content":"hi"}]}"#))
        #expect(r.status == 200)
        #expect(r.bodyText.components(separatedBy: "data: ").count == 9)  // 6 + final + [DONE]
        #expect(r.bodyText.hasSuffix("data: [DONE]\n\n"))
        #expect(try c.request(chatRequest()).status == 200)
    }

    /// B29: a client that does not read makes the proxy stop reading the upstream; memory stays bounded.
    @Test func slowReaderBackpressureKeepsMemoryBounded() throws {
        let stack = try Stack()
        let c = try Client(port: stack.port, timeout: 30)
        c.send(chatRequest(extra: "X-StandIn-Fault: flood=256\r\n"))
        usleep(1_500_000)  // do not read: 256 MiB wait upstream
        let rss = stack.proxy.rssKiB
        #expect(rss > 0 && rss < 48 * 1024, "proxy RSS \(rss) KiB while the client is not reading")
        let r = try c.readResponse()
        #expect(r.status == 200)
        #expect(r.body.count == 256 << 20)
        #expect(stack.proxy.rssKiB < 48 * 1024)
    }
}
