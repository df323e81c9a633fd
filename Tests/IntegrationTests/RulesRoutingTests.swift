import Foundation
import Testing

/// Two stand-in models behind one sidecar, routed by a rules file.
@Suite(.serialized) struct RulesRoutingTests {
    final class Fleet: @unchecked Sendable {
        let stable: Spawned
        let candidate: Spawned
        var proxy: Spawned!
        let rulesPath: String

        init(flags: String) throws {
            stable = try standIn("stable-v1")
            candidate = try standIn("candidate-v2")
            rulesPath = NSTemporaryDirectory() + "modelflag-rules-\(UUID().uuidString).json"
            try Fleet.rules(stable: stable.port("stand-in"), candidate: candidate.port("stand-in"), flags: flags)
                .write(toFile: rulesPath, atomically: true, encoding: .utf8)
            proxy = try Spawned(
                ["run", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--rules", rulesPath],
                roles: ["proxy", "admin"])
        }

        static func rules(stable: UInt16, candidate: UInt16, flags: String) -> String {
            """
            {
              "upstreams": {
                "stable": {"address": "127.0.0.1:\(stable)", "modelVersion": "v1", "model": "chat-stable"},
                "candidate": {"address": "127.0.0.1:\(candidate)", "modelVersion": "v2", "model": "chat-candidate"}
              },
              "defaultUpstream": "stable",
              "$evaluators": {
                "faq": {"==": [{"var": "body.metadata.intent"}, "faq"]},
                "enterprise": {"==": [{"var": "body.metadata.tier"}, "enterprise"]}
              },
              "flags": \(flags)
            }
            """
        }

        deinit {
            proxy?.stop()
            stable.stop()
            candidate.stop()
            try? FileManager.default.removeItem(atPath: rulesPath)
        }
    }

    static let segmentFlags = """
        {"chat-model": {
          "state": "ENABLED",
          "match": {"pathPrefix": "/v1/chat/completions"},
          "variants": {"stable": "stable", "candidate": "candidate"},
          "defaultVariant": "stable",
          "targeting": {"if": [
            {"$ref": "enterprise"}, "stable",
            {"$ref": "faq"}, "candidate",
            {"fractional": [["candidate", 10], ["stable", 90]]}
          ]}
        }}
        """

    func ask(_ c: Client, user: String, tier: String = "free", intent: String = "chat") throws -> Response {
        let body =
            #"{"model":"chat","user":"\#(user)","metadata":{"tier":"\#(tier)","intent":"\#(intent)"},"messages":[{"role":"user","content":"hi"}]}"#
        return try c.request(chatRequest(body, extra: "X-User-Id: \(user)\r\n"))
    }

    @Test func segmentsRouteAndTheModelFieldIsRewritten() throws {
        let fleet = try Fleet(flags: Self.segmentFlags)
        let c = try Client(port: fleet.proxy.port("proxy"))
        let faq = try ask(c, user: "u1", intent: "faq")
        #expect(faq.status == 200)
        #expect(faq.bodyText.contains("\"model\":\"candidate-v2\""))
        #expect(faq.bodyText.contains("\"requested_model\":\"chat-candidate\""))
        #expect(faq.header("x-modelflag-flag") == "chat-model")
        #expect(faq.header("x-modelflag-variant") == "candidate")
        let ent = try ask(c, user: "u1", tier: "enterprise", intent: "faq")
        #expect(ent.bodyText.contains("\"model\":\"stable-v1\""))
        #expect(ent.bodyText.contains("\"requested_model\":\"chat-stable\""))
        #expect(ent.header("x-modelflag-variant") == "stable")
        // Paths no flag governs go to the default upstream, untagged.
        let models = try c.request("GET /v1/models HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(models.bodyText.contains("stable-v1"))
        #expect(models.header("x-modelflag-flag") == nil)
    }

    @Test func tenPercentStickySplit() throws {
        let fleet = try Fleet(flags: Self.segmentFlags)
        let c = try Client(port: fleet.proxy.port("proxy"))
        var candidateUsers: [String] = []
        for i in 0..<1000 {
            let r = try ask(c, user: "user-\(i)")
            if r.header("x-modelflag-variant") == "candidate" {
                #expect(r.bodyText.contains("candidate-v2"))
                candidateUsers.append("user-\(i)")
            }
        }
        #expect(candidateUsers.count > 70 && candidateUsers.count < 130, "candidate share \(candidateUsers.count)/1000")
        // Sticky: the same users get the candidate again.
        for user in candidateUsers.prefix(20) {
            #expect(try ask(c, user: user).header("x-modelflag-variant") == "candidate")
        }
    }

    @Test func killSwitchSendsEverythingToTheDefault() throws {
        let flags = Self.segmentFlags.replacingOccurrences(of: "\"ENABLED\"", with: "\"DISABLED\"")
        let fleet = try Fleet(flags: flags)
        let c = try Client(port: fleet.proxy.port("proxy"))
        for i in 0..<50 {
            let r = try ask(c, user: "k\(i)", intent: "faq")
            #expect(r.header("x-modelflag-variant") == "stable")
            #expect(r.bodyText.contains("stable-v1"))
        }
        _ = try c.request("GET /v1/models HTTP/1.1\r\nHost: a\r\n\r\n")
        let admin = try Client(port: fleet.proxy.port("admin"))
        let metrics = try admin.request("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n").bodyText
        #expect(
            metrics.contains(
                "modelflag_flag_evaluations_total{flag=\"chat-model\",variant=\"stable\",reason=\"DISABLED\"} 50"))
        #expect(metrics.contains("modelflag_unflagged_requests_total 1"))
    }

    @Test func aBadRulesFileRefusesToStart() throws {
        let path = NSTemporaryDirectory() + "modelflag-bad-\(UUID().uuidString).json"
        try #"{"upstreams": {}, "flags": {}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: HarnessError.self) {
            _ = try Spawned(["run", "--listen", "127.0.0.1:0", "--rules", path], roles: ["proxy"])
        }
    }
}
