import Foundation
import Testing

/// Issue 6: a candidate that errors on 10 % of requests is rolled back by this pod's tripwire: the
/// request after the one that crosses the bound already goes to stable.
@Suite(.serialized) struct RollbackTests {
    @Test func erroringCandidateIsRolledBackAtOnce() throws {
        let stable = try standIn("stable-v1")
        let candidate = try standIn("candidate-v2", ["--error-rate", "0.1"])
        let rules = """
            {
              "upstreams": {
                "stable": {"address": "127.0.0.1:\(stable.port("stand-in"))", "modelVersion": "v1"},
                "candidate": {"address": "127.0.0.1:\(candidate.port("stand-in"))", "modelVersion": "v2"}
              },
              "defaultUpstream": "stable",
              "flags": {"chat": {
                "state": "ENABLED", "variants": {"stable": "stable", "candidate": "candidate"},
                "defaultVariant": "stable", "targeting": "candidate",
                "rollbackOn": [{"variant": "candidate", "metric": "error_rate", "above": 0.05, "minSamples": 20, "windowSeconds": 10}]
              }}
            }
            """
        let path = NSTemporaryDirectory() + "modelflag-rollback-\(UUID().uuidString).json"
        try rules.write(toFile: path, atomically: true, encoding: .utf8)
        let dir = NSTemporaryDirectory() + "modelflag-rollback-recs-\(UUID().uuidString)"
        defer {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: dir)
            stable.stop()
            candidate.stop()
        }
        let proxy = try Spawned(
            ["run", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--rules", path, "--records-dir", dir],
            roles: ["proxy", "admin"])
        let c = try Client(port: proxy.port("proxy"))
        var variants: [String] = []
        var statuses: [Int] = []
        for i in 0..<600 {
            let r = try c.request(chatRequest(extra: "X-Request-Id: rb-\(i)\r\n"))
            variants.append(r.header("x-modelflag-variant") ?? "?")
            statuses.append(r.status)
        }
        let firstStable = try #require(variants.firstIndex(of: "stable"), "the tripwire never tripped")
        // Everything after the trip is stable, and it tripped as soon as the bound was crossed.
        #expect(variants[firstStable...].allSatisfy { $0 == "stable" })
        let before = statuses[..<firstStable]
        let errors = before.filter { $0 >= 500 }.count
        #expect(before.count >= 20)
        #expect(Double(errors) / Double(before.count) > 0.05)
        // One request earlier, the bound was not yet crossed (or too few samples): it tripped on the last one.
        let earlier = statuses[..<(firstStable - 1)]
        #expect(earlier.count < 20 || Double(earlier.filter { $0 >= 500 }.count) / Double(earlier.count) <= 0.05)
        let admin = try Client(port: proxy.port("admin"))
        let metrics = try admin.request("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n").bodyText
        #expect(metrics.contains(#"modelflag_rollback_tripped{flag="chat",variant="candidate",metric="error_rate"} 1"#))
        #expect(metrics.contains("modelflag_rollbacks_tripped_total 1"))
        proxy.signal(SIGTERM)
        #expect(proxy.wait(timeout: 10) == 0)
        #expect(proxy.log.contains("\"event\":\"rollback_tripped\""))
        let records = try RecordsIntegrationTests().readRecords(dir)
        let rolled = records.filter { $0["rolled_back_from"] as? String == "candidate" }
        #expect(rolled.count == 600 - firstStable)
        #expect(rolled.allSatisfy { $0["variant"] as? String == "stable" })
    }
}
