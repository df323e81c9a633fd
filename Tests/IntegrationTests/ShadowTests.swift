import Foundation
import Synchronization
import Testing

/// Shadow mode with the real binary (reliability cases D37–D41): a stable stand-in serves, a
/// candidate gets copies; records pair them by request id.
@Suite(.serialized) struct ShadowTests {
    final class ShadowFleet: @unchecked Sendable {
        let stable: Spawned
        let candidate: Spawned?
        let proxy: Spawned
        let rulesPath: String
        let recordsDir: String

        /// `candidatePort`: send shadows there instead of a candidate stand-in (a dead or blackholed port).
        init(
            shadow: String = #"{"variants": ["candidate"]}"#, records: String = #"{"capture": "none"}"#,
            candidatePort: UInt16? = nil, candidateArgs: [String] = [], rewriteModels: Bool = false,
            proxyArgs: [String] = [], candidateModel: String = "candidate-v2", flagExtra: String = "",
            evaluators: String = #"{"faq": {"==": [{"var": "body.metadata.intent"}, "faq"]}}"#,
            targeting: String = #"{"if": [{"$ref": "faq"}, "stable", "stable"]}"#, stableArgs: [String] = []
        ) throws {
            stable = try standIn("stable-v1", stableArgs)
            if candidatePort == nil {
                candidate = try standIn(candidateModel, ["--faults"] + candidateArgs)
            } else {
                candidate = nil
            }
            let cport = candidatePort ?? candidate!.port("stand-in")
            let models =
                rewriteModels ? (#", "model": "chat-stable""#, #", "model": "chat-candidate""#) : ("", "")
            let rules = """
                {
                  "upstreams": {
                    "stable": {"address": "127.0.0.1:\(stable.port("stand-in"))", "modelVersion": "v1"\(models.0)},
                    "candidate": {"address": "127.0.0.1:\(cport)", "modelVersion": "v2"\(models.1)}
                  },
                  "defaultUpstream": "stable",
                  "$evaluators": \(evaluators),
                  "flags": {"chat": {
                    "state": "ENABLED",
                    "variants": {"stable": "stable", "candidate": "candidate"},
                    "defaultVariant": "stable",
                    "targeting": \(targeting),
                    "shadow": \(shadow),
                    "records": \(records)\(flagExtra.replacingOccurrences(of: "STABLE_PORT", with: "\(stable.port("stand-in"))"))
                  }}
                }
                """
            rulesPath = NSTemporaryDirectory() + "modelflag-shadow-\(UUID().uuidString).json"
            try rules.write(toFile: rulesPath, atomically: true, encoding: .utf8)
            recordsDir = NSTemporaryDirectory() + "modelflag-shadow-recs-\(UUID().uuidString)"
            proxy = try Spawned(
                [
                    "run", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--rules", rulesPath, "--records-dir",
                    recordsDir,
                ] + proxyArgs, roles: ["proxy", "admin"])
        }

        var port: UInt16 { proxy.port("proxy") }

        func metric(_ prefix: String) throws -> Double {
            let r = try Client(port: proxy.port("admin")).request("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
            for line in r.bodyText.split(separator: "\n") where line.hasPrefix(prefix + " ") {
                return Double(line.split(separator: " ").last ?? "") ?? -1
            }
            throw HarnessError.io("metric \(prefix) not found")
        }

        /// Stops the proxy (records flushed) and returns every record.
        func stopAndReadRecords() throws -> [[String: Any]] {
            proxy.signal(SIGTERM)
            #expect(proxy.wait(timeout: 15) == 0, "proxy log:\n\(proxy.log)")
            return try RecordsIntegrationTests().readRecords(recordsDir)
        }

        deinit {
            proxy.stop()
            stable.stop()
            candidate?.stop()
            try? FileManager.default.removeItem(atPath: rulesPath)
            try? FileManager.default.removeItem(atPath: recordsDir)
        }
    }

    static func body(_ i: Int, stream: Bool = false) -> String {
        #"{"model":"chat","user":"u\#(i)","stream":\#(stream),"metadata":{"intent":"\#(i % 3 == 0 ? "faq" : "chat")"},"messages":[{"role":"user","content":"question \#(i)"}]}"#
    }

    /// N requests at 100 %: exactly N served and N shadow records, paired by request id; the
    /// shadow got the same body bytes, marked as a shadow; clients only ever see the stable model.
    @Test func everyRequestHasAServedAndAShadowRecordPairedById() throws {
        let fleet = try ShadowFleet(records: #"{"capture": "full"}"#)
        let c = try Client(port: fleet.port)
        let n = 120
        for i in 0..<n {
            let r = try c.request(chatRequest(Self.body(i, stream: i % 10 == 0), extra: "X-Request-Id: r-\(i)\r\n"))
            #expect(r.status == 200)
            #expect(!r.bodyText.contains("candidate-v2"))
            #expect(!r.bodyText.contains("\"shadow\":true"))
        }
        usleep(300_000)  // shadow answers arrive after the served ones
        #expect(try fleet.metric("modelflag_shadow_requests_total") == Double(n))
        let records = try fleet.stopAndReadRecords()
        let served = records.filter { $0["role"] as? String == "served" }
        let shadow = records.filter { $0["role"] as? String == "shadow" }
        #expect(served.count == n)
        #expect(shadow.count == n)
        let shadowById = Dictionary(shadow.map { ($0["request_id"] as! String, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(shadowById.count == n)
        for s in served {
            let id = s["request_id"] as! String
            let twin = try #require(shadowById[id])
            #expect(twin["variant"] as? String == "candidate")
            #expect(twin["served_variant"] as? String == "stable")
            #expect(twin["model_version"] as? String == "v2")
            #expect(twin["outcome"] as? String == "ok")
            #expect(s["variant"] as? String == "stable")
            #expect(twin["segments"] as? [String] == s["segments"] as? [String])
            let servedResponse = (s["response"] as? [String: Any])?["body"] as? String ?? ""
            let shadowResponse = (twin["response"] as? [String: Any])?["body"] as? String ?? ""
            if (s["events"] as? Int) == nil {
                // The stand-ins echo an FNV hash of the body they received, and whether it was a shadow.
                func echoed(_ body: String, _ key: String) -> String? {
                    guard let r = body.range(of: "\"\(key)\":") else { return nil }
                    return String(body[r.upperBound...].prefix { $0 != "," && $0 != "}" })
                }
                #expect(echoed(servedResponse, "request_hash") != nil)
                #expect(echoed(servedResponse, "request_hash") == echoed(shadowResponse, "request_hash"))
                #expect(echoed(shadowResponse, "shadow") == "true")
                #expect(echoed(servedResponse, "shadow") == "false")
                #expect(shadowResponse.contains("candidate-v2"))
            }
        }
        let faq = served.filter { ($0["segments"] as? [String]) == ["faq"] }
        #expect(faq.count == n / 3)
        // The CLI filters by segment and role, and counts per flag × variant × role × segment.
        let (rc, q) = try runBinary([
            "records", "query", "--dir", fleet.recordsDir, "--segment", "faq", "--role", "shadow",
        ])
        #expect(rc == 0)
        #expect(q.split(separator: "\n").count == n / 3)
        let (_, stats) = try runBinary(["records", "stats", "--dir", fleet.recordsDir])
        let rows = stats.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        #expect(rows.contains { $0.prefix(4) == ["chat", "candidate", "shadow", "faq"] && $0[5] == "\(n / 3)" })
        #expect(rows.contains { $0.prefix(4) == ["chat", "stable", "served", "-"] && $0[5] == "\(n - n / 3)" })
    }

    /// Every shadow record carries the pair's scores: against an identical model they agree
    /// exactly; against a different one the similarity is partial, and SSE answers are scored too.
    @Test func shadowRecordsCarryScores() throws {
        let same = try ShadowFleet(candidateModel: "stable-v1")
        let c = try Client(port: same.port)
        for i in 0..<10 {
            #expect(try c.request(chatRequest(Self.body(i, stream: i % 2 == 0))).status == 200)
        }
        usleep(500_000)
        let equal = try same.stopAndReadRecords().filter { $0["role"] as? String == "shadow" }
        #expect(equal.count == 10)
        for r in equal {
            let s = try #require(r["scores"] as? [String: Any], "\(r)")
            #expect(s["status_match"] as? Bool == true)
            #expect(s["exact_match"] as? Bool == true)
            #expect(s["rouge_l"] as? Double == 1)
            #expect(s["finish_reason_match"] as? Bool == true)
            #expect(s["shadow_empty"] as? Bool == false)
        }
        let different = try ShadowFleet()
        let d = try Client(port: different.port)
        for i in 0..<10 { #expect(try d.request(chatRequest(Self.body(i))).status == 200) }
        usleep(500_000)
        let scored = try different.stopAndReadRecords().filter { $0["role"] as? String == "shadow" }
        #expect(scored.count == 10)
        for r in scored {
            let s = try #require(r["scores"] as? [String: Any])
            #expect(s["exact_match"] as? Bool == false)
            let rouge = try #require(s["rouge_l"] as? Double)
            #expect(rouge >= 0 && rouge < 1)
            #expect(s["latency_delta_ms"] is Double)
            #expect(s["completion_tokens_delta"] is Int)
        }
    }

    /// JSON validity is scored only for requests that ask for JSON. When the rules scan the body
    /// for facts, that means a top-level `response_format` (a nested key of that name does not
    /// count); without the scan, the shadow scorer's search of the body finds either.
    @Test func jsonValidityIsScoredWhenTheRequestAsksForJSON() throws {
        let topLevel =
            #"{"model":"chat","user":"u1","response_format":{"type":"json_object"},"messages":[{"role":"user","content":"q"}]}"#
        let nested =
            #"{"model":"chat","user":"u2","metadata":{"response_format":"x"},"messages":[{"role":"user","content":"q"}]}"#
        let factsRules =
            #"{"faq": {"==": [{"var": "body.metadata.intent"}, "faq"]}, "long": {">": [{"var": "request.userTurns"}, 5]}}"#
        /// `served_json_valid` of the one shadow record a fleet writes for `body` (nil: null).
        func validity(_ body: String, scanFacts: Bool) throws -> Bool? {
            let fleet =
                scanFacts
                ? try ShadowFleet(
                    evaluators: factsRules,
                    targeting: #"{"if": [{"$ref": "long"}, "stable", {"$ref": "faq"}, "stable", "stable"]}"#)
                : try ShadowFleet()
            #expect(try Client(port: fleet.port).request(chatRequest(body)).status == 200)
            usleep(300_000)
            let shadows = try fleet.stopAndReadRecords().filter { $0["role"] as? String == "shadow" }
            #expect(shadows.count == 1)
            let s = try #require(shadows.first?["scores"] as? [String: Any], "\(shadows)")
            #expect(s.keys.contains("served_json_valid"))
            return s["served_json_valid"] as? Bool
        }
        #expect(try validity(topLevel, scanFacts: true) != nil)
        #expect(try validity(nested, scanFacts: true) == nil)
        #expect(try validity(topLevel, scanFacts: false) != nil)
        #expect(try validity(nested, scanFacts: false) != nil)
    }

    /// `"compare": false` mirrors and records without scoring: every copy is still recorded, with
    /// its own answer read whole, and no shadow record carries scores.
    @Test func compareFalseRecordsWithoutScores() throws {
        let fleet = try ShadowFleet(shadow: #"{"variants": ["candidate"], "compare": false}"#)
        let c = try Client(port: fleet.port)
        for i in 0..<6 {
            #expect(try c.request(chatRequest(Self.body(i, stream: i % 2 == 0))).status == 200)
        }
        usleep(500_000)
        let records = try fleet.stopAndReadRecords()
        let shadows = records.filter { $0["role"] as? String == "shadow" }
        #expect(shadows.count == 6)
        #expect(records.filter { $0["role"] as? String == "served" }.count == 6)
        for r in shadows {
            #expect(r["outcome"] as? String == "ok")
            #expect(r["scores"] is NSNull, "\(r)")
            #expect(r["finish_reason"] as? String == "stop", "\(r)")
        }
    }

    /// `/stats` and `/metrics` give per flag × variant × role × segment figures, scores included.
    @Test func statsBySegmentOnTheAdminPort() throws {
        let fleet = try ShadowFleet()
        let c = try Client(port: fleet.port)
        for i in 0..<30 { #expect(try c.request(chatRequest(Self.body(i))).status == 200) }
        usleep(500_000)
        let admin = try Client(port: fleet.proxy.port("admin"))
        let r = try admin.request("GET /stats HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(r.status == 200)
        let obj = try JSONSerialization.jsonObject(with: Data(r.bodyText.utf8)) as! [String: Any]
        let rows = obj["rows"] as! [[String: Any]]
        func row(_ variant: String, _ role: String, _ segment: String) -> [String: Any]? {
            rows.first {
                $0["variant"] as? String == variant && $0["role"] as? String == role
                    && $0["segment"] as? String == segment
            }
        }
        #expect(row("stable", "served", "*")?["requests"] as? Int == 30)
        #expect(row("stable", "served", "faq")?["requests"] as? Int == 10)
        let shadowFaq = try #require(row("candidate", "shadow", "faq"))
        #expect(shadowFaq["requests"] as? Int == 10)
        let scores = try #require(shadowFaq["scores"] as? [String: Any])
        #expect(scores["n"] as? Int == 10)
        #expect((scores["rouge_l_p5"] as? Double ?? -1) >= 0)
        #expect(((row("stable", "served", "*")?["latency_ms"] as? [String: Any])?["p99"] as? Double ?? 0) > 0)
        let metrics = try admin.request("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n").bodyText
        #expect(
            metrics.contains(
                #"modelflag_segment_requests_total{flag="chat",variant="candidate",role="shadow",segment="faq"} 10"#))
        #expect(
            metrics.contains(
                #"modelflag_segment_rouge_l{flag="chat",variant="candidate",role="shadow",segment="*",stat="p5"}"#))
    }

    /// The issue's scenario with real processes: a candidate that matches stable everywhere but
    /// answers escalations worse. With shadow scoring at 100 %, `modelflag gate` refuses to
    /// promote, names `escalation` as failing with its figures, and passes the other segment.
    @Test func gateRefusesTheCandidateThatFailsOneSegment() throws {
        let fleet = try ShadowFleet(
            shadow: #"{"variants": ["candidate"], "noiseFloor": 100}"#,
            candidateArgs: ["--degrade", "escalat=0.6"], candidateModel: "stable-v1",
            flagExtra:
                #", "evaluator": {"url": "http://127.0.0.1:STABLE_PORT/v1/evaluate"}, "gates": [{"metric": "rouge_l", "min": 0.7, "minSamples": 30}, {"metric": "rouge_l", "vsBaseline": 0.2, "minSamples": 30}, {"metric": "score:quality", "min": 0.8, "minSamples": 30}]"#,
            evaluators:
                #"{"faq": {"==": [{"var": "body.metadata.intent"}, "faq"]}, "escalation": {"==": [{"var": "body.metadata.intent"}, "escalation"]}}"#,
            targeting: #"{"if": [{"$ref": "escalation"}, "stable", {"$ref": "faq"}, "stable", "stable"]}"#)
        let c = try Client(port: fleet.port)
        let intents = ["faq", "chat", "escalation"]
        for i in 0..<480 {
            let body =
                #"{"model":"chat","user":"u\#(i)","metadata":{"intent":"\#(intents[i % 3])"},"messages":[{"role":"user","content":"question \#(i)"}]}"#
            #expect(try c.request(chatRequest(body)).status == 200)
        }
        usleep(500_000)
        _ = try fleet.stopAndReadRecords()
        let (rc, out) = try runBinary(["gate", "--rules", fleet.rulesPath, "--source", "records:\(fleet.recordsDir)"])
        #expect(rc == 1, "\(out)")
        let rows = out.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        let escalation = try #require(rows.first { $0.count == 9 && $0[2] == "escalation" })
        let faq = try #require(rows.first { $0.count == 9 && $0[2] == "faq" })
        // Against the noise floor (stable shadowed against itself agrees fully here).
        let escalationVsFloor = try #require(
            rows.first { $0.count == 9 && $0[2] == "escalation" && $0[7].contains("baseline") })
        let faqVsFloor = try #require(rows.first { $0.count == 9 && $0[2] == "faq" && $0[7].contains("baseline") })
        #expect(escalationVsFloor[8] == "FAIL")
        #expect(faqVsFloor[8] == "PASS")
        #expect(faqVsFloor[7].contains("baseline n 160"))
        // The external evaluator (the stand-in's judge) scored every candidate answer.
        let quality = rows.filter { $0.count == 9 && $0[3] == "score:quality" }
        #expect(quality.first { $0[2] == "escalation" }?[8] == "FAIL")
        #expect(quality.first { $0[2] == "faq" }?[8] == "PASS")
        #expect(quality.first { $0[2] == "faq" }?[4] == "160")
        #expect(escalation[8] == "FAIL")
        #expect(escalation[4] == "160")
        #expect((Double(escalation[5]) ?? 1) < 0.7)
        #expect(faq[8] == "PASS")
        #expect(Double(faq[5]) == 1.0)
        print("scenario gate output:\n\(out)")
    }

    /// The issue's scenario in full, judged by quality: stable gets a fifth of every answer wrong;
    /// the candidate is 15 % better on average (3 % wrong) but 40 % worse on escalations (52 %
    /// wrong, a tenth of the traffic). The external evaluator scores every shadow answer and the
    /// noise floor gives stable's own score per segment. `modelflag gate`, run on the live
    /// sidecar's `/stats` after every 30 requests, must name `escalation` as failing and pass `faq`
    /// and `*`; `--apply` then blocks `escalation` and moves the rollout on, and the candidate
    /// reaches FAQ users only. Prints the requests each decision took.
    @Test func betterOnAverageWorseOnEscalationIsPromotedOnlyWhereItIsBetter() throws {
        let fleet = try ShadowFleet(
            shadow: #"{"variants": ["candidate"], "noiseFloor": 100}"#,
            candidateArgs: ["--degrade", "escalat=0.52", "--degrade", "messages=0.03"], candidateModel: "stable-v1",
            flagExtra:
                #", "evaluator": {"url": "http://127.0.0.1:STABLE_PORT/v1/evaluate"}, "gates": [{"metric": "score:quality", "vsBaseline": 0, "minSamples": 30}], "rollout": {"variant": "candidate", "stage": 0, "stages": [{"*": 0}, {"faq": 100, "*": 100}]}"#,
            evaluators:
                #"{"faq": {"==": [{"var": "body.metadata.intent"}, "faq"]}, "escalation": {"==": [{"var": "body.metadata.intent"}, "escalation"]}}"#,
            targeting: #"{"if": [{"$ref": "escalation"}, null, {"$ref": "faq"}, null, null]}"#,
            stableArgs: ["--degrade", "messages=0.2"])
        let c = try Client(port: fleet.port)
        let admin = "admin://127.0.0.1:\(fleet.proxy.port("admin"))"
        func body(_ i: Int) -> String {
            let intent = i % 10 == 0 ? "escalation" : i % 2 == 1 ? "faq" : "chat"
            return
                #"{"model":"chat","user":"u\#(i)","metadata":{"intent":"\#(intent)"},"messages":[{"role":"user","content":"question \#(i)"}]}"#
        }
        var decided: [String: (verdict: String, requests: Int)] = [:]
        var sent = 0
        var last = ""
        while sent < 1500 && decided.count < 3 {
            for _ in 0..<30 {
                #expect(try c.request(chatRequest(body(sent))).status == 200)
                sent += 1
            }
            usleep(150_000)  // the last shadows and their evaluator calls
            let (_, out) = try runBinary(["gate", "--rules", fleet.rulesPath, "--source", admin])
            last = out
            for row in out.split(separator: "\n").map({ $0.split(separator: "\t").map(String.init) })
            where row.count == 9 && row[1] == "candidate" && row[8] != "INCONCLUSIVE" && decided[row[2]] == nil {
                decided[row[2]] = (row[8], sent)
            }
        }
        print("scenario decisions (requests sent when the verdict was first final): \(decided)\n\(last)")
        #expect(decided["escalation"]?.verdict == "FAIL", "\(last)")
        #expect(decided["faq"]?.verdict == "PASS", "\(last)")
        #expect(decided["*"]?.verdict == "PASS", "\(last)")
        // The pod's own window says the same on /stats (and so on the dashboard): the noise-floor
        // comparison judged per row against stable's shadow row of the same segment.
        let stats = try Client(port: fleet.proxy.port("admin")).request("GET /stats HTTP/1.1\r\nHost: a\r\n\r\n")
        let statRows =
            (try JSONSerialization.jsonObject(with: Data(stats.bodyText.utf8)) as! [String: Any])["rows"]
            as! [[String: Any]]
        func podVerdict(_ segment: String) -> String? {
            let row = statRows.first {
                $0["variant"] as? String == "candidate" && $0["role"] as? String == "shadow"
                    && $0["segment"] as? String == segment
            }
            return (row?["gates"] as? [[String: Any]])?.first { $0["metric"] as? String == "score:quality" }?["verdict"]
                as? String
        }
        #expect(podVerdict("escalation") == "FAIL")
        #expect(podVerdict("faq") == "PASS")
        // The average says promote; one segment says no. Segment by segment:
        let (rc, applied) = try runBinary(["gate", "--rules", fleet.rulesPath, "--source", admin, "--apply"])
        #expect(rc == 1)
        #expect(applied.contains("rollout stage 0 -> 1; blocked escalation"), "\(applied)")
        // Every sidecar hot-reloads the file: FAQ users now get the candidate, escalations never do.
        var faqToCandidate = false
        for _ in 0..<50 where !faqToCandidate {
            usleep(100_000)
            faqToCandidate = try c.request(chatRequest(body(1))).header("x-modelflag-variant") == "candidate"
        }
        #expect(faqToCandidate)
        for i in stride(from: 0, to: 200, by: 10) {
            #expect(try c.request(chatRequest(body(i))).header("x-modelflag-variant") == "stable")
        }
        for i in stride(from: 1, to: 41, by: 2) {
            #expect(try c.request(chatRequest(body(i))).header("x-modelflag-variant") == "candidate")
        }
    }

    /// Tail gates read the same from a live sidecar's `/stats` (its histograms) as from its
    /// records (every value): same counts, same shares, same verdicts.
    @Test func tailGatesAgreeAcrossSources() throws {
        let fleet = try ShadowFleet(
            candidateArgs: ["--degrade", "faq=0.5"],
            flagExtra:
                #", "gates": [{"metric": "rouge_l", "below": 0.9, "max": 0.3, "minSamples": 5}, {"metric": "latency_ms", "above": 10000, "max": 0.5, "minSamples": 5}, {"metric": "error_rate", "vsStable": 0.5, "minSamples": 5}]"#
        )
        let c = try Client(port: fleet.port)
        for i in 0..<40 { #expect(try c.request(chatRequest(Self.body(i))).status == 200) }
        usleep(500_000)
        let stats = try Client(port: fleet.proxy.port("admin")).request("GET /stats HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(stats.bodyText.contains(#""tails":{"rouge_l<0.9":{"n":"#), "\(stats.bodyText.prefix(600))")
        func table(_ out: String) -> [String: [String]] {
            var rows: [String: [String]] = [:]
            for line in out.split(separator: "\n") {
                let f = line.split(separator: "\t").map(String.init)
                if f.count == 9 && f[0] == "chat" { rows[f[2] + " " + f[3]] = [f[4], f[5], f[8]] }
            }
            return rows
        }
        let (rcLive, live) = try runBinary([
            "gate", "--rules", fleet.rulesPath, "--source", "admin://127.0.0.1:\(fleet.proxy.port("admin"))",
        ])
        _ = try fleet.stopAndReadRecords()
        let (rcRecords, recorded) = try runBinary([
            "gate", "--rules", fleet.rulesPath, "--source", "records:\(fleet.recordsDir)",
        ])
        #expect(rcLive == rcRecords)
        let a = table(live)
        let b = table(recorded)
        #expect(a.count == 6, "\(live)")  // (*, faq) x 3 gates
        #expect(a == b, "live:\n\(live)\nrecords:\n\(recorded)")
        #expect(a["faq rouge_l<0.9"]?[2] == "FAIL", "\(live)")
        #expect(a["faq latency_ms>10000"]?[1] == "0.0", "\(live)")
    }

    /// An evaluator that is down costs nothing but its verdict: every request is served, each
    /// shadow record says why it has no evaluator scores, and the failures are counted.
    @Test func aDeadEvaluatorIsCountedNotFelt() throws {
        let dead = try Blackhole.freePort()
        let fleet = try ShadowFleet(
            flagExtra: #", "evaluator": {"url": "http://127.0.0.1:\#(dead)/v1/evaluate", "timeoutMs": 500}"#)
        let c = try Client(port: fleet.port)
        for i in 0..<20 { #expect(try c.request(chatRequest(Self.body(i))).status == 200) }
        usleep(500_000)
        #expect(try fleet.metric("modelflag_evaluator_calls_total{result=\"failed\"}") == 20)
        let shadows = try fleet.stopAndReadRecords().filter { $0["role"] as? String == "shadow" }
        #expect(shadows.count == 20)
        #expect(shadows.allSatisfy { ($0["evaluator"] as? [String: Any])?["error"] as? String == "unreachable" })
        #expect(shadows.allSatisfy { $0["scores"] is [String: Any] })
    }

    /// Evaluator scores reach the pod's window: `/stats` and the metrics give them per segment.
    @Test func evaluatorScoresInTheStatistics() throws {
        let fleet = try ShadowFleet(
            candidateArgs: ["--degrade", "faq=0.5"],
            flagExtra: #", "evaluator": {"url": "http://127.0.0.1:STABLE_PORT/v1/evaluate"}"#)
        let c = try Client(port: fleet.port)
        for i in 0..<12 { #expect(try c.request(chatRequest(Self.body(i))).status == 200) }
        usleep(500_000)
        let admin = try Client(port: fleet.proxy.port("admin"))
        let stats = try admin.request("GET /stats HTTP/1.1\r\nHost: a\r\n\r\n").bodyText
        let rows =
            (try JSONSerialization.jsonObject(with: Data(stats.utf8)) as! [String: Any])["rows"] as! [[String: Any]]
        let faq = try #require(rows.first { $0["role"] as? String == "shadow" && $0["segment"] as? String == "faq" })
        let quality = try #require((faq["evaluator"] as? [String: Any])?["quality"] as? [String: Any])
        #expect(quality["n"] as? Int == 4)
        #expect((quality["mean"] as? Double ?? 1) < 0.8)
        let all = try #require(rows.first { $0["role"] as? String == "shadow" && $0["segment"] as? String == "*" })
        #expect(((all["evaluator"] as? [String: Any])?["quality"] as? [String: Any])?["n"] as? Int == 12)
        let metrics = try admin.request("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n").bodyText
        #expect(
            metrics.contains(
                #"modelflag_segment_evaluator_score{flag="chat",variant="candidate",role="shadow",segment="faq",name="quality",stat="mean"}"#
            ))
    }

    /// D37/D40: a shadow that refuses, blackholes, stalls or resets never delays the client,
    /// nor the next request on the same connection.
    @Test(arguments: ["refused", "blackhole", "delay=10000", "hang", "reset"])
    func aBadShadowNeverDelaysThePrimary(_ fault: String) throws {
        var blackhole: Blackhole?
        var port: UInt16?
        if fault == "refused" {
            port = try Blackhole.freePort()
        } else if fault == "blackhole" {
            blackhole = try Blackhole()
            port = blackhole!.port
        }
        let fleet = try ShadowFleet(
            shadow: #"{"variants": ["candidate"], "timeoutMs": 1500, "maxInFlight": 1000}"#, candidatePort: port)
        let c = try Client(port: fleet.port)
        let start = Date()
        let n = 40
        for i in 0..<n {
            let extra = port == nil ? "X-StandIn-Fault: \(fault)\r\n" : ""
            let r = try c.request(chatRequest(Self.body(i), extra: extra + "X-Request-Id: f-\(i)\r\n"))
            #expect(r.status == 200)
            #expect(r.bodyText.contains("stable-v1"))
        }
        // 40 requests waiting for a stalled shadow would take minutes; unhindered they take well
        // under a second. The bound only separates those two worlds, it is not a latency figure.
        #expect(Date().timeIntervalSince(start) < 8)
        usleep(2_000_000)  // every shadow has ended by its 1.5 s timeout
        #expect(try fleet.metric("modelflag_shadow_in_flight") == 0)
        let records = try fleet.stopAndReadRecords()
        let shadows = records.filter { $0["role"] as? String == "shadow" }
        #expect(shadows.count == n)
        let expected: Set<String> = fault == "reset" || fault == "refused" ? ["upstream_error"] : ["timeout"]
        #expect(Set(shadows.compactMap { $0["outcome"] as? String }) == expected)
        #expect(records.filter { $0["role"] as? String == "served" && $0["outcome"] as? String == "ok" }.count == n)
        withExtendedLifetime(blackhole) {}  // the listener must outlive the requests
    }

    /// A copy leaves once the served answer's first byte has arrived (`start: first-byte`, the
    /// default), or with the request (`start: request`). Seen from a listener standing in for the
    /// candidate while the stable model takes 1.5 s to answer: at 0.7 s it has the copy only in
    /// `request` mode; after the answer it has it in both.
    @Test(arguments: ["first-byte", "request"])
    func copiesLeaveAfterTheServedAnswersFirstByte(_ start: String) throws {
        let catcher = try Catcher()
        let fleet = try ShadowFleet(
            shadow: #"{"variants": ["candidate"], "start": "\#(start)", "timeoutMs": 5000}"#,
            candidatePort: catcher.port, stableArgs: ["--latency", "1500ms"])
        let port = fleet.port
        let answered = Mutex<Int?>(nil)
        let client = Thread {
            let status = (try? Client(port: port, timeout: 10).request(chatRequest(Self.body(1))))?.status
            answered.withLock { $0 = status ?? -1 }
        }
        client.start()
        usleep(700_000)
        #expect(answered.withLock { $0 } == nil, "the stable model answers after 1.5 s")
        #expect(catcher.received == (start == "request"))
        let deadline = Date().addingTimeInterval(10)
        while answered.withLock({ $0 }) == nil && Date() < deadline { usleep(20_000) }
        #expect(answered.withLock { $0 } == 200)
        while !catcher.received && Date() < deadline { usleep(20_000) }
        #expect(catcher.received, "the copy is sent once the served answer has come")
        withExtendedLifetime(fleet) {}
    }

    /// D39: at the in-flight cap new copies are dropped, counted and recorded, never queued.
    @Test func copiesOverTheInFlightCapAreDropped() throws {
        let fleet = try ShadowFleet(shadow: #"{"variants": ["candidate"], "maxInFlight": 5, "timeoutMs": 60000}"#)
        let c = try Client(port: fleet.port)
        for i in 0..<30 {
            #expect(try c.request(chatRequest(Self.body(i), extra: "X-StandIn-Fault: hang\r\n")).status == 200)
        }
        #expect(try fleet.metric("modelflag_shadow_in_flight") == 5)
        #expect(try fleet.metric("modelflag_shadow_dropped_total{reason=\"in_flight_cap\"}") == 25)
        let records = try fleet.stopAndReadRecords()
        let outcomes = records.filter { $0["role"] as? String == "shadow" }.compactMap { $0["outcome"] as? String }
        #expect(outcomes.filter { $0 == "dropped" }.count == 25)
        // The five still running when the proxy drained are cut and recorded, not left behind.
        #expect(outcomes.filter { $0 == "incomplete" }.count == 5)
    }

    /// Pooled shadow exchanges are idle memory: after a burst of large mirrored bodies they keep
    /// at most `ShadowExchange.keptBytes` each (`modelflag_shadow_pooled_bytes`), not the bodies.
    @Test func pooledShadowExchangesGiveLargeBodiesBack() throws {
        let fleet = try ShadowFleet(shadow: #"{"variants": ["candidate"], "timeoutMs": 60000}"#)
        let c = try Client(port: fleet.port)
        let filler = String(repeating: "x", count: 300 * 1024)
        for i in 0..<12 {
            let body = #"{"model":"chat","user":"u\#(i)","messages":[{"role":"user","content":"\#(filler)"}]}"#
            // The candidate answers late, so the twelve copies are in flight together (twelve
            // exchanges, each holding its 300 KiB body until it ends).
            #expect(try c.request(chatRequest(body, extra: "X-StandIn-Fault: delay=400\r\n")).status == 200)
        }
        var inFlight = try fleet.metric("modelflag_shadow_in_flight")
        for _ in 0..<50 where inFlight > 0 {
            usleep(100_000)
            inFlight = try fleet.metric("modelflag_shadow_in_flight")
        }
        #expect(inFlight == 0)
        usleep(200_000)  // the last records written and their exchanges pooled
        let pooled = try fleet.metric("modelflag_shadow_pooled_bytes")
        #expect(pooled > 0 && pooled <= 12 * 64 * 1024, "\(pooled) bytes pooled")
        let records = try fleet.stopAndReadRecords().filter { $0["role"] as? String == "shadow" }
        #expect(records.count == 12 && records.allSatisfy { $0["outcome"] as? String == "ok" })
    }

    /// D38: a body over the shadow's limit is not mirrored (the served request is unaffected).
    @Test func bodiesOverTheShadowLimitAreNotMirrored() throws {
        let fleet = try ShadowFleet(shadow: #"{"variants": ["candidate"], "maxBodyBytes": 200}"#)
        let c = try Client(port: fleet.port)
        let big = #"{"model":"chat","messages":[{"role":"user","content":"\#(String(repeating: "x", count: 400))"}]}"#
        #expect(try c.request(chatRequest(big)).status == 200)
        #expect(try c.request(chatRequest(Self.body(1))).status == 200)
        usleep(200_000)
        #expect(try fleet.metric("modelflag_shadow_dropped_total{reason=\"body_too_large\"}") == 1)
        #expect(try fleet.metric("modelflag_shadow_requests_total") == 1)
    }

    /// D41: requests the proxy rejects are never mirrored.
    @Test func rejectedRequestsAreNeverMirrored() throws {
        let fleet = try ShadowFleet()
        let c = try Client(port: fleet.port)
        c.send(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        #expect(String(decoding: c.readToEnd(), as: UTF8.self).hasPrefix("HTTP/1.1 400"))
        let c2 = try Client(port: fleet.port)
        c2.send("POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n")
        #expect(String(decoding: c2.readToEnd(), as: UTF8.self).hasPrefix("HTTP/1.1 4"))
        usleep(200_000)
        #expect(try fleet.metric("modelflag_shadow_requests_total") == 0)
        let records = try fleet.stopAndReadRecords()
        #expect(!records.contains { $0["role"] as? String == "shadow" })
    }

    /// An SSE answer's text (its `delta.content` pieces) and its number of `data: {…}` events.
    static func assembled(_ sse: String) throws -> (text: String, events: Int) {
        var text = ""
        var events = 0
        for line in sse.split(separator: "\n") where line.hasPrefix("data: {") {
            events += 1
            let obj = try JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as! [String: Any]
            let delta = ((obj["choices"] as! [[String: Any]])[0]["delta"] as! [String: Any])
            text += delta["content"] as? String ?? ""
        }
        return (text, events)
    }

    /// The shadow's SSE answer is assembled into its text, with the event count and time to first event.
    @Test func shadowStreamsAreAssembled() throws {
        let fleet = try ShadowFleet(records: #"{"capture": "full"}"#)
        let c = try Client(port: fleet.port)
        let body = Self.body(7, stream: true)
        #expect(try c.request(chatRequest(body, extra: "X-Request-Id: s-1\r\n")).status == 200)
        // What the candidate streams for this body, read directly.
        let direct = try Client(port: fleet.candidate!.port("stand-in")).request(chatRequest(body))
        let (text, events) = try Self.assembled(direct.bodyText)
        #expect(events > 2)
        usleep(500_000)
        let records = try fleet.stopAndReadRecords()
        let s = try #require(
            records.first { $0["role"] as? String == "shadow" && $0["request_id"] as? String == "s-1" })
        #expect(s["events"] as? Int == events)
        #expect((s["response"] as? [String: Any])?["text"] as? String == text)
        #expect(s["finish_reason"] as? String == "stop")
        #expect((s["ttft_ms"] as? Double ?? -1) >= 0)
    }

    /// A shadow stream longer than the batch mark (16 KiB): the kernel gathers it, the worker is
    /// woken past the mark and drains the rest on its timer, and the record still has every event,
    /// the whole text, and an end after the first event.
    @Test func longShadowStreamsAreReadInBatchesWhole() throws {
        let fleet = try ShadowFleet(
            records: #"{"capture": "full", "maxBodyBytes": 1000000}"#,
            candidateArgs: ["--stream-events", "300", "--stream-interval", "1ms"])
        let c = try Client(port: fleet.port)
        let body = Self.body(9, stream: true)
        #expect(try c.request(chatRequest(body, extra: "X-Request-Id: long-1\r\n")).status == 200)
        let direct = try Client(port: fleet.candidate!.port("stand-in")).request(chatRequest(body))
        #expect(direct.body.count > 32 * 1024)
        let (text, events) = try Self.assembled(direct.bodyText)
        #expect(events >= 300)  // 300 content events and the closing one
        // Until the shadow call has ended (not a fixed sleep: a loaded machine streams slower).
        for _ in 0..<200 where try fleet.metric(#"modelflag_shadow_responses_total{outcome="ok"}"#) < 1 {
            usleep(50_000)
        }
        let records = try fleet.stopAndReadRecords()
        let s = try #require(
            records.first { $0["role"] as? String == "shadow" && $0["request_id"] as? String == "long-1" })
        #expect(s["outcome"] as? String == "ok")
        #expect(s["events"] as? Int == events)
        #expect((s["response"] as? [String: Any])?["text"] as? String == text)
        #expect(s["finish_reason"] as? String == "stop")
        let ttft = s["ttft_ms"] as? Double ?? -1
        let latency = s["latency_ms"] as? Double ?? -1
        #expect(ttft >= 0 && latency >= ttft + 250, "300 events 1 ms apart end after the first: \(ttft) / \(latency)")
    }

    /// Sticky sampling: at 30 % the same users are mirrored on every request, about 30 % of them.
    @Test func stickySampleKeepsTheSameUsers() throws {
        let fleet = try ShadowFleet(shadow: #"{"variants": ["candidate"], "percentage": 30}"#)
        let c = try Client(port: fleet.port)
        for round in 0..<2 {
            for u in 0..<200 {
                let r = try c.request(
                    chatRequest(Self.body(u), extra: "X-User-Id: user-\(u)\r\nX-Request-Id: \(round)-\(u)\r\n"))
                #expect(r.status == 200)
            }
        }
        usleep(300_000)
        let records = try fleet.stopAndReadRecords()
        let mirrored = records.filter { $0["role"] as? String == "shadow" }.map { $0["request_id"] as! String }
        let first = Set(mirrored.filter { $0.hasPrefix("0-") }.map { $0.dropFirst(2) })
        let second = Set(mirrored.filter { $0.hasPrefix("1-") }.map { $0.dropFirst(2) })
        #expect(first == second)
        #expect(first.count > 35 && first.count < 85)  // 30 % of 200 = 60; binomial sd ≈ 6.5
    }

    /// Capture policies: `hash` stores SHA-256 of the exact bytes, `full` cuts at the cap and
    /// says so, `redact` replaces listed fields by their hash.
    @Test func capturePoliciesHashTruncateAndRedact() throws {
        let hashFleet = try ShadowFleet(records: #"{"capture": "hash"}"#)
        let body = Self.body(5)
        #expect(
            try Client(port: hashFleet.port).request(chatRequest(body, extra: "X-Request-Id: h-1\r\n")).status == 200)
        usleep(200_000)
        let hashed = try hashFleet.stopAndReadRecords()
        let expectedHash = try sha256sum(body)
        for r in hashed where r["request_id"] as? String == "h-1" {
            #expect((r["request"] as? [String: Any])?["sha256"] as? String == expectedHash)
            #expect(((r["response"] as? [String: Any])?["sha256"] as? String)?.count == 64)
            #expect(r["capture"] as? String == "hash")
            #expect(!(String(describing: r).contains("question 5")))
        }
        #expect(hashed.filter { $0["request_id"] as? String == "h-1" }.count == 2)

        let fullFleet = try ShadowFleet(records: #"{"capture": "full", "maxBodyBytes": 64, "redact": ["user"]}"#)
        #expect(
            try Client(port: fullFleet.port).request(chatRequest(body, extra: "X-Request-Id: f-1\r\n")).status == 200)
        usleep(200_000)
        let full = try fullFleet.stopAndReadRecords()
        let served = try #require(full.first { $0["role"] as? String == "served" })
        let request = try #require(served["request"] as? [String: Any])
        let captured = try #require(request["body"] as? String)
        #expect(captured.utf8.count <= 64)
        #expect(request["truncated"] as? Bool == true)
        #expect(captured.hasPrefix(#"{"model":"chat","user":"sha256:"#))
        #expect(!captured.contains("\"u5\""))
        #expect((served["response"] as? [String: Any])?["truncated"] as? Bool == true)
        // The default stores no bodies at all.
        let none = try ShadowFleet()
        #expect(try Client(port: none.port).request(chatRequest(body)).status == 200)
        usleep(200_000)
        for r in try none.stopAndReadRecords() {
            #expect(r["capture"] as? String == "none")
            #expect(r["request"] == nil && r["response"] == nil)
        }
    }

    /// A shadow upstream with its own `model` gets its own name in the body (Content-Length fixed).
    @Test func shadowUpstreamModelRewrite() throws {
        let fleet = try ShadowFleet(records: #"{"capture": "full"}"#, rewriteModels: true)
        #expect(try Client(port: fleet.port).request(chatRequest(Self.body(2))).status == 200)
        usleep(200_000)
        let records = try fleet.stopAndReadRecords()
        let s = try #require(records.first { $0["role"] as? String == "shadow" })
        let answer = (s["response"] as? [String: Any])?["body"] as? String ?? ""
        #expect(answer.contains(#""requested_model":"chat-candidate""#))
        #expect(s["status"] as? Int == 200)
    }
}

/// A TCP port that completes no handshake: a listener with backlog 0 whose one queue slot is
/// taken, so further SYNs are dropped (a blackholed model server).
final class Blackhole: @unchecked Sendable {
    let fd: Int32
    let port: UInt16
    private var filler: Client?

    init() throws {
        let listener = try Blackhole.listening(backlog: 0)
        fd = listener.fd
        port = listener.port
        filler = try Client(port: port, timeout: 1)
    }

    /// A listening socket on a free loopback port.
    static func listening(backlog: Int32 = 16) throws -> (fd: Int32, port: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        listen(fd, backlog)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return (fd, UInt16(bigEndian: addr.sin_port))
    }

    /// A port nothing listens on (bound once, then closed).
    static func freePort() throws -> UInt16 {
        let b = try Blackhole()
        return b.port
    }

    deinit {
        filler = nil
        close(fd)
    }
}

/// A listener standing in for a model server that notes whether any request bytes arrived (and
/// never answers). Its accept thread polls, so it stops when the catcher goes away.
final class Catcher: @unchecked Sendable {
    let fd: Int32
    let port: UInt16
    private let state = Mutex((received: false, stopped: false))
    private var thread: Thread?

    init() throws {
        let listener = try Blackhole.listening()
        fd = listener.fd
        port = listener.port
        let t = Thread { [self] in run() }
        thread = t
        t.start()
    }

    var received: Bool { state.withLock { $0.received } }

    private func run() {
        var conns: [Int32] = []
        defer { for c in conns { close(c) } }
        var buf = [UInt8](repeating: 0, count: 4096)
        while !state.withLock({ $0.stopped }) {
            var fds =
                [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
                + conns.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            guard poll(&fds, nfds_t(fds.count), 50) > 0 else { continue }
            if fds[0].revents != 0 {
                let c = accept(fd, nil, nil)
                if c >= 0 {
                    _ = fcntl(c, F_SETFD, FD_CLOEXEC)  // (accept4 is not in Swift's Glibc module)
                    conns.append(c)
                }
            }
            for p in fds.dropFirst() where p.revents != 0 {
                if buf.withUnsafeMutableBytes({ read(p.fd, $0.baseAddress, $0.count) }) > 0 {
                    state.withLock { $0.received = true }
                }
            }
        }
    }

    deinit {
        state.withLock { $0.stopped = true }
        while thread?.isFinished == false { usleep(10_000) }
        close(fd)
    }
}

/// SHA-256 of `text` by coreutils' `sha256sum`, an implementation independent of ours.
func sha256sum(_ text: String) throws -> String {
    let path = NSTemporaryDirectory() + "modelflag-sha-\(UUID().uuidString)"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let (rc, out) = try runProgram(["/usr/bin/sha256sum", path])
    guard rc == 0, let hex = out.split(separator: " ").first else { throw HarnessError.io("sha256sum failed") }
    return String(hex)
}
