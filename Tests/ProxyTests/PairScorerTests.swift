import Foundation
import Records
import Rules
import Testing

@testable import Proxy

/// The thread that scores shadow pairs and writes their records: every pair handed over ends up
/// in a record with its scores, `close` drains the queue, and a closed scorer refuses work (the
/// loop then scores the pair itself).
struct PairScorerTests {
    func job(_ n: Int, servedText: String, shadowText: String) -> PairScorer.Job {
        var notes = ExchangeNotes()
        notes.startNs = 1_000_000
        notes.status = 200
        var capture = ResponseCapture()
        capture.reset(CaptureSpec(mode: .none), answer: true)
        let body = Array(#"{"choices":[{"message":{"content":"\#(shadowText)"},"finish_reason":"stop"}]}"#.utf8)
        body.withUnsafeBytes { capture.feed($0) }
        capture.finish()
        let input = RecordInput(
            role: .shadow, requestId: Array("pair-\(n)".utf8), method: Array("POST".utf8)[...],
            path: Array("/v1/chat/completions".utf8)[...], route: nil, variant: 1, upstreamAddress: nil, notes: notes,
            outcome: .ok, requestBody: Array("{}".utf8), endNs: 3_000_000)
        let served = AnswerSummary(status: 200, text: Array(servedText.utf8), finishReason: Array("stop".utf8))
        return PairScorer.Job(served: served, wantsJSON: false, input: input, capture: capture)
    }

    @Test func everyPairHandedOverIsScoredAndRecordedByClose() throws {
        let dir = NSTemporaryDirectory() + "modelflag-scorer-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try RecordWriter(config: RecordConfig(directory: dir))
        let scorer = PairScorer(records: writer, stats: nil)
        for n in 0..<500 {
            let same = n % 2 == 0
            #expect(
                scorer.submit(job(n, servedText: "the answer is four", shadowText: same ? "the answer is four" : "no")))
        }
        scorer.close()
        #expect(!scorer.submit(job(999, servedText: "a", shadowText: "a")), "closed: the caller scores it")
        writer.close()
        #expect(writer.stats.written == 500)
        let lines = try String(contentsOfFile: dir + "/records.jsonl", encoding: .utf8).split(separator: "\n")
            .dropFirst()
        var exact = 0
        for line in lines {
            let r = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(r["role"] as? String == "shadow")
            let scores = try #require(r["scores"] as? [String: Any], "\(line)")
            if scores["exact_match"] as? Bool == true { exact += 1 }
        }
        #expect(lines.count == 500)
        #expect(exact == 250)
    }
}
