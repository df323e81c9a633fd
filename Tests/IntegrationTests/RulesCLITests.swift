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

    /// The summary also says what each flag mirrors, records, gates and rolls back.
    @Test func checkSummarizesShadowRecordsGatesAndRollout() throws {
        let (rc, out) = try runBinary(["check", Self.examples + "/quality-gate.json"])
        #expect(rc == 0)
        #expect(
            out.contains(
                "shadow: candidate at 100 %, leaves at first-byte, maxInFlight 100, timeout 10000 ms, scored, noise floor 100 %"
            ), "\(out)")
        #expect(out.contains("records: capture none"))
        #expect(out.contains("rollout: candidate, stage 1 of 4"))
        #expect(out.contains("promotion gates: score:quality, error_rate"))
        #expect(out.contains("rollback: candidate when error_rate > 0.05 over 10 s (at least 20 requests)"))
        let (_, shadow) = try runBinary(["check", Self.examples + "/shadow-candidate.json"])
        #expect(shadow.contains("records: capture full, up to 8192 bytes per body, redact user, messages.content"))
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
