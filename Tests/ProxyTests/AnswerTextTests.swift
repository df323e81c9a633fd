import Foundation
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

    /// Random answers with quotes, backslashes, control characters and non-ASCII text, escaped by
    /// Foundation's JSON writer (an implementation independent of ours), come back exactly, in a
    /// JSON body and in SSE events: the end of each string is found eight bytes at a time.
    @Test func randomEscapedAnswersComeBackExactly() throws {
        var rng = SystemRandomNumberGenerator()
        let pieces = ["a", "b", "word ", "\"", "\\", "\n", "\t", "\u{1}", "é", "😀", "/", "'", "}", "]", ","]
        for _ in 0..<300 {
            let text = (0..<Int.random(in: 0..<60, using: &rng)).map { _ in
                Bool.random(using: &rng) ? "plain" : pieces.randomElement(using: &rng)!
            }.joined()
            let escaped = String(
                decoding: try JSONSerialization.data(withJSONObject: [text], options: [.fragmentsAllowed]),
                as: UTF8.self
            ).dropFirst().dropLast()  // ["…"] → "…"
            let json = #"{"choices":[{"message":{"content":\#(escaped)},"finish_reason":"stop"}]}"#
            var a = AnswerText(cap: 1 << 20)
            a.start(try head("application/json"))
            Array(json.utf8).withUnsafeBytes { a.feed($0) }
            a.finish()
            #expect(String(decoding: a.text, as: UTF8.self) == text, "\(escaped)")
            #expect(a.finishReason.map { String(decoding: $0, as: UTF8.self) } == "stop")
            var e = AnswerText(cap: 1 << 20)
            e.start(try head("text/event-stream"))
            let event = #"data: {"choices":[{"delta":{"content":\#(escaped)}}]}"# + "\n\n"
            Array(event.utf8).withUnsafeBytes { e.feed($0) }
            e.finish()
            #expect(String(decoding: e.text, as: UTF8.self) == text)
        }
    }

    /// `finish_reason` is looked for after the content first: found when it comes before the
    /// content too, and never taken from text inside the content.
    @Test func finishReasonInEitherOrder() throws {
        let bodies = [
            #"{"choices":[{"finish_reason":"length","message":{"content":"x"}}]}"#,
            #"{"choices":[{"message":{"content":"say \"finish_reason\":\"evil\""},"finish_reason":"stop"}]}"#,
            #"{"choices":[{"message":{"content":"no reason"}}]}"#,
        ]
        var reasons: [String?] = []
        for body in bodies {
            var a = AnswerText(cap: 1024)
            a.start(try head("application/json"))
            Array(body.utf8).withUnsafeBytes { a.feed($0) }
            a.finish()
            reasons.append(a.finishReason.map { String(decoding: $0, as: UTF8.self) })
        }
        #expect(reasons == ["length", "stop", nil])
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
