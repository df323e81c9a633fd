import Foundation
import Testing

/// Reliability cases G52–G53: SIGTERM drains; a second signal exits at once.
@Suite(.serialized) struct ShutdownTests {
    @Test func sigtermDrainsAStreamInFlight() throws {
        // A 3 s stream: long enough that the admin port is surely still up when the test looks,
        // even on a loaded 2-core machine (it closes once the drain finishes).
        let stack = try Stack(modelArgs: ["--stream-events", "15", "--stream-interval", "200ms"])
        do {
            let c = try Client(port: stack.port)
            c.send(chatRequest(#"{"stream":true,"messages":[{"role":"user","content":"drain"}]}"#))
            let first = c.readChunk()
            #expect(first.contains("HTTP/1.1 200 OK"))
            stack.proxy.signal(SIGTERM)
            usleep(200_000)
            // Readiness is false while draining, and new connections are refused.
            let admin = try Client(port: stack.adminPort)
            #expect(try admin.request("GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n").status == 503)
            #expect(throws: (any Error).self) { _ = try Client(port: stack.port) }
            // The stream in flight completes, with its final chunk.
            let rest = String(decoding: c.readToEnd(), as: UTF8.self)
            #expect(rest.contains("data: [DONE]"), "proxy log:\n\(stack.proxy.log)\nmodel log:\n\(stack.model.log)")
            #expect(rest.hasSuffix("0\r\n\r\n"))
            #expect(stack.proxy.wait(timeout: 10) == 0)
            #expect(stack.proxy.log.contains("\"event\":\"drain_started\""))

        } catch {
            Issue.record("\(error)\nproxy log:\n\(stack.proxy.log)")
            throw error
        }
    }

    @Test func drainDeadlineAbortsOpenStreams() throws {
        let stack = try Stack(
            modelArgs: ["--stream-events", "50", "--stream-interval", "200ms"], proxyArgs: ["--drain-timeout", "500ms"])
        let c = try Client(port: stack.port)
        c.send(chatRequest(#"{"stream":true,"messages":[]}"#))
        _ = c.readChunk()
        stack.proxy.signal(SIGTERM)
        let rest = String(decoding: c.readToEnd(), as: UTF8.self)
        #expect(!rest.contains("[DONE]"))
        #expect(stack.proxy.wait(timeout: 10) == 0)
    }

    @Test func secondSignalExitsAtOnce() throws {
        let stack = try Stack(modelArgs: ["--stream-events", "50", "--stream-interval", "200ms"])
        let c = try Client(port: stack.port)
        c.send(chatRequest(#"{"stream":true,"messages":[]}"#))
        _ = c.readChunk()
        stack.proxy.signal(SIGTERM)
        usleep(100_000)
        stack.proxy.signal(SIGTERM)
        #expect(stack.proxy.wait(timeout: 3) == 1)
    }

    @Test func idleProxyExitsPromptlyOnSigterm() throws {
        let stack = try Stack()
        let c = try Client(port: stack.port)
        #expect(try c.request(chatRequest()).status == 200)  // leaves an idle keep-alive connection
        stack.proxy.signal(SIGTERM)
        #expect(stack.proxy.wait(timeout: 5) == 0)
        #expect(c.isClosedByPeer())
    }
}
