import HTTP1
import Testing

@testable import Proxy

struct AnswerTextTests {
    func head(_ contentType: String) throws -> ResponseHead {
        let raw = Array("HTTP/1.1 200 OK\r\nContent-Type: \(contentType)\r\nContent-Length: 0\r\n\r\n".utf8)
        return try raw.withUnsafeBytes { try ResponseHead.parse($0, limits: Limits()) }
    }

    func chunk(_ content: String) -> String {
        #"data: {"choices":[{"index":0,"delta":{"content":"\#(content)"},"finish_reason":null}]}"# + "\n\n"
    }

    /// SSE fed at every split offset assembles the same text and counts the same events.
    @Test func sseIsAssembledWhateverTheReadBoundaries() throws {
        let stream =
            chunk("Hel") + chunk("lo, \\\"w\\u00f6rld\\\"") + chunk("\\ud83d\\ude00\\n")
            + #"data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"# + "\r\n\r\n" + "data: [DONE]\n\n"
        let bytes = Array(stream.utf8)
        let h = try head("text/event-stream; charset=utf-8")
        for split in 0...bytes.count {
            var a = AnswerText(cap: 1024)
            a.start(h)
            bytes[0..<split].withUnsafeBytes { a.feed($0) }
            bytes[split...].withUnsafeBytes { a.feed($0) }
            a.finish()
            #expect(String(decoding: a.text, as: UTF8.self) == "Hello, \"wörld\"😀\n")
            #expect(a.events == 4)
            #expect(a.finishReason.map { String(decoding: $0, as: UTF8.self) } == "stop")
            #expect(a.isSSE)
        }
    }

    @Test func jsonAnswerIsTheFirstChoiceContent() throws {
        let body =
            #"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"a\tb"},"finish_reason":"length"}]}"#
        var a = AnswerText(cap: 1024)
        a.start(try head("application/json"))
        Array(body.utf8).withUnsafeBytes { a.feed($0) }
        a.finish()
        #expect(String(decoding: a.text, as: UTF8.self) == "a\tb")
        #expect(a.finishReason.map { String(decoding: $0, as: UTF8.self) } == "length")
        #expect(!a.isSSE)
    }

    @Test func nullContentIsNoText() throws {
        let body = #"{"choices":[{"message":{"content":null,"tool_calls":[]},"finish_reason":"tool_calls"}]}"#
        var a = AnswerText(cap: 1024)
        a.start(try head("application/json"))
        Array(body.utf8).withUnsafeBytes { a.feed($0) }
        a.finish()
        #expect(a.text.isEmpty)
        #expect(a.finishReason.map { String(decoding: $0, as: UTF8.self) } == "tool_calls")
    }

    @Test func textIsCappedAndMarkedTruncated() throws {
        var a = AnswerText(cap: 10)
        a.start(try head("text/event-stream"))
        for _ in 0..<5 { Array(chunk("abcd").utf8).withUnsafeBytes { a.feed($0) } }
        a.finish()
        #expect(a.text.count == 10)
        #expect(a.truncated)
        #expect(a.events == 5)
    }

    @Test func anOverlongSSELineIsDroppedNotBuffered() throws {
        var a = AnswerText(cap: 100)
        a.start(try head("text/event-stream"))
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 64 * 1024)
        Array("data: ".utf8).withUnsafeBytes { a.feed($0) }
        for _ in 0..<8 { big.withUnsafeBytes { a.feed($0) } }  // 512 KiB without a newline
        Array(("\n\n" + chunk("ok")).utf8).withUnsafeBytes { a.feed($0) }
        a.finish()
        #expect(a.truncated)
        #expect(String(decoding: a.text, as: UTF8.self) == "ok")
    }
}
