import Foundation
import Testing

/// Issue 6: a confidence-gated variant serves the candidate's answer only when its confidence
/// reaches the threshold; otherwise, or when the candidate fails, the stable model answers.
/// The record of one exchange: its request id and role.
func record(_ records: [[String: Any]], _ id: String, _ role: String) -> [String: Any]? {
    records.first { $0["request_id"] as? String == id && $0["role"] as? String == role }
}

@Suite(.serialized) struct ConfidenceGateTests {
    final class GatedFleet: @unchecked Sendable {
        let stable: Spawned
        let candidate: Spawned
        let proxy: Spawned
        let rulesPath: String
        let recordsDir: String

        init(
            candidateConfidence: Double, from: String = "header:x-model-confidence", mode: String = "buffer",
            candidateArgs: [String] = [], flag: String? = nil
        ) throws {
            stable = try standIn("stable-v1")
            candidate = try standIn(
                "candidate-v2", ["--faults", "--confidence", "\(candidateConfidence)"] + candidateArgs)
            let rules = """
                {
                  "upstreams": {
                    "stable": {"address": "127.0.0.1:\(stable.port("stand-in"))", "modelVersion": "v1"},
                    "candidate": {"address": "127.0.0.1:\(candidate.port("stand-in"))", "modelVersion": "v2"}
                  },
                  "defaultUpstream": "stable",
                  "targetingKey": ["header:x-user-id"],
                  "flags": {"chat": \(flag ?? """
                    {
                    "state": "ENABLED",
                    "variants": {
                      "stable": "stable",
                      "candidate-gated": {"upstream": "candidate",
                        "confidence": {"threshold": 0.8, "fallback": "stable", "from": "\(from)", "mode": "\(mode)"}}
                    },
                    "defaultVariant": "stable", "targeting": "candidate-gated"
                  }
                  """)}
                }
                """
            rulesPath = NSTemporaryDirectory() + "modelflag-gate-\(UUID().uuidString).json"
            try rules.write(toFile: rulesPath, atomically: true, encoding: .utf8)
            recordsDir = NSTemporaryDirectory() + "modelflag-gate-recs-\(UUID().uuidString)"
            proxy = try Spawned(
                [
                    "run", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--rules", rulesPath, "--records-dir",
                    recordsDir,
                ], roles: ["proxy", "admin"])
        }

        func records() throws -> [[String: Any]] {
            proxy.signal(SIGTERM)
            #expect(proxy.wait(timeout: 10) == 0)
            return try RecordsIntegrationTests().readRecords(recordsDir)
        }

        deinit {
            proxy.stop()
            stable.stop()
            candidate.stop()
            try? FileManager.default.removeItem(atPath: rulesPath)
            try? FileManager.default.removeItem(atPath: recordsDir)
        }
    }

    @Test func confidentCandidateIsServed() throws {
        let fleet = try GatedFleet(candidateConfidence: 0.95)
        let c = try Client(port: fleet.proxy.port("proxy"))
        let r = try c.request(chatRequest(extra: "X-Request-Id: g-1\r\n"))
        #expect(r.status == 200)
        #expect(r.bodyText.contains("candidate-v2"))
        #expect(r.header("x-modelflag-variant") == "candidate-gated")
        // Streams are held whole, then served.
        let s = try c.request(chatRequest(#"{"stream":true,"messages":[{"role":"user","content":"hi"}]}"#))
        #expect(s.status == 200)
        #expect(s.bodyText.contains("candidate-v2") && s.bodyText.hasSuffix("data: [DONE]\n\n"))
        let records = try fleet.records()
        let served = try #require(records.first { $0["request_id"] as? String == "g-1" })
        let gate = try #require(served["gate"] as? [String: Any])
        #expect(gate["result"] as? String == "passed")
        #expect(gate["confidence"] as? Double == 0.95)
        #expect(!records.contains { $0["role"] as? String == "gated" })
    }

    @Test(arguments: ["header:x-model-confidence", "json:confidence"])
    func unsureCandidateFallsBackToStable(_ from: String) throws {
        let fleet = try GatedFleet(candidateConfidence: 0.5, from: from)
        let c = try Client(port: fleet.proxy.port("proxy"))
        for i in 0..<5 {
            let r = try c.request(chatRequest(extra: "X-Request-Id: f-\(i)\r\n"))
            #expect(r.status == 200)
            #expect(r.bodyText.contains("stable-v1"))
            #expect(r.header("x-modelflag-variant") == "stable")
        }
        let admin = try Client(port: fleet.proxy.port("admin"))
        let metrics = try admin.request("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n").bodyText
        #expect(metrics.contains(#"modelflag_gate_decisions_total{served="fallback"} 5"#))
        let stats = try admin.request("GET /stats HTTP/1.1\r\nHost: a\r\n\r\n").bodyText
        #expect(stats.contains(#""role":"gated","segment":"*","requests":5"#))
        #expect(stats.contains(#""fallback_rate":1.0"#))
        let records = try fleet.records()
        for i in 0..<5 {
            let both = records.filter { $0["request_id"] as? String == "f-\(i)" }
            let served = try #require(both.first { $0["role"] as? String == "served" })
            let attempt = try #require(both.first { $0["role"] as? String == "gated" })
            #expect(served["variant"] as? String == "stable")
            #expect((served["gate"] as? [String: Any])?["result"] as? String == "below_threshold")
            #expect(attempt["variant"] as? String == "candidate-gated")
            #expect(attempt["model_version"] as? String == "v2")
            #expect((attempt["gate"] as? [String: Any])?["confidence"] as? Double == 0.5)
        }
    }

    /// `first-event`: a confident stream is judged on its first event and then flows through as
    /// the candidate produces it (the client has the first event while the rest is still being
    /// generated); an unsure one is cut there and the stable model's stream is served instead.
    @Test(arguments: ["json:confidence", "header:x-model-confidence"])
    func firstEventModeDecidesOnTheFirstEvent(_ from: String) throws {
        let stream = #"{"stream":true,"messages":[{"role":"user","content":"hi"}]}"#
        let slow = ["--stream-events", "6", "--stream-interval", "300ms"]
        let sure = try GatedFleet(candidateConfidence: 0.95, from: from, mode: "first-event", candidateArgs: slow)
        let c = try Client(port: sure.proxy.port("proxy"))
        c.send(chatRequest(stream, extra: "X-Request-Id: fe-1\r\n"))
        var first = ""
        while !first.contains("data: ") { first += c.readChunk() }
        #expect(first.lowercased().contains("x-modelflag-variant: candidate-gated"))
        #expect(!first.contains("[DONE]"), "the whole stream arrived at once: it was held\n\(first)")
        var rest = first
        while !rest.contains("data: [DONE]") && c.fill() { rest += c.readChunk() }
        #expect(rest.contains("candidate-v2") && rest.contains("data: [DONE]"))
        let records = try sure.records()
        let served = try #require(record(records, "fe-1", "served"))
        #expect((served["gate"] as? [String: Any])?["result"] as? String == "passed")
        #expect((served["gate"] as? [String: Any])?["confidence"] as? Double == 0.95)

        let unsure = try GatedFleet(candidateConfidence: 0.5, from: from, mode: "first-event", candidateArgs: slow)
        let u = try Client(port: unsure.proxy.port("proxy"))
        let r = try u.request(chatRequest(stream, extra: "X-Request-Id: fe-2\r\n"))
        #expect(r.status == 200)
        #expect(r.header("x-modelflag-variant") == "stable")
        #expect(r.bodyText.contains("stable-v1") && !r.bodyText.contains("candidate-v2"))
        let recs = try unsure.records()
        let attempt = try #require(record(recs, "fe-2", "gated"))
        #expect((attempt["gate"] as? [String: Any])?["result"] as? String == "below_threshold")
        #expect(attempt["outcome"] as? String == "ok")
    }

    /// Rollout stages can lower a gated variant's threshold step by step: at stage 0 (0.95) the
    /// candidate's 0.9 falls back; once the file says stage 1 (0.85), the same answers are served.
    @Test func rolloutStagesLowerTheThreshold() throws {
        let flag = """
            {"state": "ENABLED",
             "variants": {"stable": "stable",
               "candidate-gated": {"upstream": "candidate", "confidence": {"threshold": 0.99, "fallback": "stable"}}},
             "defaultVariant": "stable",
             "rollout": {"variant": "candidate-gated", "stage": 0,
               "stages": [{"*": {"percent": 100, "threshold": 0.95}}, {"*": {"percent": 100, "threshold": 0.85}}]}}
            """
        let fleet = try GatedFleet(candidateConfidence: 0.9, flag: flag)
        let c = try Client(port: fleet.proxy.port("proxy"))
        for i in 0..<3 {
            let r = try c.request(chatRequest(extra: "X-User-Id: u\(i)\r\nX-Request-Id: s0-\(i)\r\n"))
            #expect(r.bodyText.contains("stable-v1"))
        }
        let text = try String(contentsOfFile: fleet.rulesPath, encoding: .utf8)
        try text.replacingOccurrences(of: #""stage": 0"#, with: #""stage": 1"#).write(
            toFile: fleet.rulesPath, atomically: true, encoding: .utf8)
        var served = false
        for _ in 0..<100 where !served {
            usleep(100_000)
            served = try c.request(chatRequest(extra: "X-User-Id: u9\r\n")).bodyText.contains("candidate-v2")
        }
        #expect(served, "stage 1's threshold never applied")
        let r = try c.request(chatRequest(extra: "X-User-Id: u1\r\nX-Request-Id: s1-1\r\n"))
        #expect(r.header("x-modelflag-variant") == "candidate-gated")
        let records = try fleet.records()
        let before = try #require(record(records, "s0-0", "served"))
        #expect((before["gate"] as? [String: Any])?["threshold"] as? Double == 0.95)
        #expect((before["gate"] as? [String: Any])?["result"] as? String == "below_threshold")
        let after = try #require(record(records, "s1-1", "served"))
        #expect((after["gate"] as? [String: Any])?["threshold"] as? Double == 0.85)
        #expect((after["gate"] as? [String: Any])?["result"] as? String == "passed")
    }

    @Test func failingCandidateFallsBack() throws {
        let fleet = try GatedFleet(candidateConfidence: 0.99)
        let c = try Client(port: fleet.proxy.port("proxy"))
        let r = try c.request(chatRequest(extra: "X-Request-Id: e-1\r\nX-StandIn-Fault: reset\r\n"))
        #expect(r.status == 200)
        #expect(r.bodyText.contains("stable-v1"))
        let records = try fleet.records()
        let served = try #require(record(records, "e-1", "served"))
        #expect((served["gate"] as? [String: Any])?["result"] as? String == "candidate_error")
    }
}
