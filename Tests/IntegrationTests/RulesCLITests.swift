import Foundation
import Testing

/// `modelflag check` and `modelflag explain` on the example rules.
@Suite struct RulesCLITests {
    static var examples: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("examples/rules").path
    }

    @Test func checkSummarizesOrReportsEveryError() throws {
        let (rc, out) = try runBinary(["check", Self.examples + "/canary-by-segment.json"])
        #expect(rc == 0)
        #expect(out.contains("OK, revision"))
        #expect(out.contains("segments ($evaluators): enterprise, escalation, faq, multi_turn"))
        let bad = NSTemporaryDirectory() + "modelflag-bad-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: bad) }
        try #"{"upstreams": {"a": {"address": "h:1"}}, "flags": {"f": {"state": "ON"}}}"#.write(
            toFile: bad, atomically: true, encoding: .utf8)
        let (rc2, _) = try runBinary(["check", bad])
        #expect(rc2 == 1)
    }

    @Test func explainShowsTheKeyTheBucketAndTheDecision() throws {
        let body = NSTemporaryDirectory() + "modelflag-req-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: body) }
        try #"{"model":"chat","metadata":{"intent":"faq"},"messages":[{"role":"user","content":"hi"}]}"#.write(
            toFile: body, atomically: true, encoding: .utf8)
        let (rc, out) = try runBinary([
            "explain", "--rules", Self.examples + "/canary-by-segment.json", "--request", body, "-H",
            "X-User-Id: alice",
        ])
        #expect(rc == 0)
        #expect(out.contains("targetingKey = \"alice\" (from header:x-user-id"))
        #expect(out.contains("segment faq = true"))
        #expect(out.contains("fractional key \"chat-modelalice\""))
        #expect(out.contains("decision: flag chat-model variant candidate (TARGETING_MATCH)"))
        let (_, other) = try runBinary([
            "explain", "--rules", Self.examples + "/canary-by-segment.json", "--request", body, "--path", "/v1/models",
        ])
        #expect(other.contains("decision: no flag governs this request -> upstream stable"))
    }
}
