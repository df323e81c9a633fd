import Glibc
import Testing

@testable import Proxy

struct GateConfidenceTests {
    /// The first data event is found however the stream is cut, past comment-only events, with
    /// LF or CRLF line ends.
    @Test(arguments: ["\n", "\r\n"])
    func firstDataEventAtEverySplit(_ eol: String) {
        let stream = Array(
            ": keep-alive\(eol)\(eol)data: {\"confidence\":0.9}\(eol)\(eol)data: {\"x\":1}\(eol)\(eol)".utf8)
        let event = Array("data: {\"confidence\":0.9}\(eol)\(eol)".utf8)
        for cut in 0...stream.count {
            var finder = SSEEventFinder()
            var body = Array(stream[..<cut])
            var found = finder.firstDataEvent(in: body)
            if found == nil {
                body = stream
                found = finder.firstDataEvent(in: body)
            }
            guard let range = found else {
                Issue.record("no event found (cut at \(cut))")
                continue
            }
            #expect(Array(body[range]) == event, "cut at \(cut)")
        }
    }

    /// `from: logprobs`: exp of the mean of every `"logprob"` in the answer (OpenAI's shape).
    @Test func meanLogprobIsTheGeometricMeanOfTheTokenProbabilities() {
        let body =
            #"{"choices":[{"logprobs":{"content":[{"token":"a","logprob":-0.1},{"token":"b","logprob": -0.3e0},{"token":"c","logprob":-0.2}]}}]}"#
        let c = Array(body.utf8).withUnsafeBytes { GateConfidence.meanLogprobConfidence($0) }
        #expect(abs((c ?? 0) - exp(-0.2)) < 1e-9)
        #expect(Array(#"{"logprobs":null}"#.utf8).withUnsafeBytes { GateConfidence.meanLogprobConfidence($0) } == nil)
    }

    @Test func noEventUntilTheBlankLine() {
        var finder = SSEEventFinder()
        var body = Array(": ping\n\n".utf8)
        #expect(finder.firstDataEvent(in: body) == nil)
        body += Array("data: {\"a\":1}\n".utf8)
        #expect(finder.firstDataEvent(in: body) == nil)
        body += Array("\n".utf8)
        #expect(finder.firstDataEvent(in: body) == 8..<(body.count))
    }
}
