import Foundation
import Rules
import Testing

/// The `shadow` and `records` keys of a flag.
@Suite struct ShadowSpecTests {
    func flag(_ extra: String) -> String {
        file(
            flags: """
                {"chat": {"state": "ENABLED", "variants": {"stable": "stable", "candidate": "candidate"},
                  "defaultVariant": "stable", \(extra)}}
                """)
    }

    @Test func defaultsAreSafe() throws {
        let set = try rules(flag(#""shadow": {"variants": ["candidate"]}"#))
        let f = set.flags[0]
        let spec = try #require(f.shadow)
        #expect(spec.variants == [f.variants.firstIndex { $0.name == "candidate" }!])
        #expect(spec.percentage == 100)
        #expect(spec.sampleBy == .targetingKey)
        #expect(spec.maxInFlight == ShadowSpec.defaultMaxInFlight)
        #expect(spec.timeoutMs == ShadowSpec.defaultTimeoutMs)
        #expect(spec.maxBodyBytes == ShadowSpec.defaultMaxBodyBytes)
        #expect(spec.compare)
        #expect(spec.start == .firstByte)
        // No `records`: bodies are not stored.
        #expect(f.capture.mode == .none)
        #expect(f.capture.redact.isEmpty)
    }

    @Test func everySettingIsRead() throws {
        let set = try rules(
            flag(
                #""shadow": {"variants": "candidate", "percentage": 12.5, "sampleBy": "random", "maxInFlight": 7, "timeoutMs": 900, "maxBodyBytes": 4096, "compare": false, "start": "request"}, "records": {"capture": "full", "maxBodyBytes": 100, "redact": ["user", "messages.content"]}"#
            ))
        let f = set.flags[0]
        let spec = try #require(f.shadow)
        #expect(spec.percentage == 12.5)
        #expect(spec.sampleBy == .random)
        #expect(spec.maxInFlight == 7)
        #expect(spec.timeoutMs == 900)
        #expect(spec.maxBodyBytes == 4096)
        #expect(!spec.compare)
        #expect(spec.start == .request)
        #expect(f.capture.mode == .full)
        #expect(f.capture.maxBodyBytes == 100)
        #expect(f.capture.redact == [["user"], ["messages", "content"]])
    }

    @Test(arguments: [
        (#""shadow": {"variants": ["nope"]}"#, "$.flags.chat.shadow.variants"),
        (#""shadow": {"variants": []}"#, "$.flags.chat.shadow.variants"),
        (#""shadow": {"variants": ["candidate"], "percentage": 101}"#, "$.flags.chat.shadow.percentage"),
        (#""shadow": {"variants": ["candidate"], "sampleBy": "user"}"#, "$.flags.chat.shadow.sampleBy"),
        (#""shadow": {"variants": ["candidate"], "maxInFlight": 0}"#, "$.flags.chat.shadow.maxInFlight"),
        (#""shadow": {"variants": ["candidate"], "timeoutMs": 1.5}"#, "$.flags.chat.shadow.timeoutMs"),
        (#""shadow": {"variants": ["candidate"], "mirror": true}"#, "$.flags.chat.shadow.mirror"),
        (#""shadow": true"#, "$.flags.chat.shadow"),
        (#""shadow": {"variants": ["candidate"], "compare": "yes"}"#, "$.flags.chat.shadow.compare"),
        (#""shadow": {"variants": ["candidate"], "start": "head"}"#, "$.flags.chat.shadow.start"),
        (#""records": {"capture": "all"}"#, "$.flags.chat.records.capture"),
        (#""records": {"redact": ["a..b"]}"#, "$.flags.chat.records.redact"),
        (#""records": {"maxBodyBytes": -1}"#, "$.flags.chat.records.maxBodyBytes"),
    ])
    func mistakesAreReportedWithTheirPath(_ extra: String, _ path: String) {
        let errors = loadErrors(flag(extra))
        #expect(errors.contains { $0.path == path }, "\(errors)")
    }

    @Test func segmentsReferencedByTheTargetingAreListedOnce() throws {
        let set = try rules(
            file(
                flags: """
                    {"chat": {"state": "ENABLED", "variants": {"stable": "stable", "candidate": "candidate"},
                      "defaultVariant": "stable",
                      "targeting": {"if": [{"$ref": "b"}, "stable", {"or": [{"$ref": "a"}, {"$ref": "b"}]}, "candidate", null]}}}
                    """,
                evaluators: #"{"a": {"$ref": "c"}, "b": {"==": [1, 1]}, "c": {"==": [2, 2]}, "unused": true}"#))
        #expect(set.flags[0].segments.map(\.name) == ["b", "a", "c"])
    }
}

/// The `rollbackOn` key and the tripwire's window.
@Suite struct TripwireTests {
    @Test func tripsOnlyAboveTheRateWithEnoughSamples() {
        let w = Tripwire(variant: 1, metric: .errorRate, above: 0.1, minSamples: 10, windowSeconds: 5)
        let t = 1_000
        for _ in 0..<8 { #expect(!w.observe(bad: false, now: t)) }
        #expect(!w.observe(bad: true, now: t))  // 1/9: too few samples
        #expect(!w.observe(bad: false, now: t))  // 1/10 = 0.1: not above
        #expect(w.observe(bad: true, now: t + 1))  // 2/11
        #expect(w.isTripped)
        #expect(!w.observe(bad: true, now: t + 2))  // already tripped: reported once
    }

    @Test func oldSecondsLeaveTheWindow() {
        let w = Tripwire(variant: 1, metric: .errorRate, above: 0.5, minSamples: 4, windowSeconds: 2)
        for _ in 0..<3 { _ = w.observe(bad: true, now: 100) }
        for _ in 0..<4 { _ = w.observe(bad: false, now: 103) }  // the bad second is gone
        #expect(!w.isTripped)
    }

    @Test func rollbackOnIsValidated() throws {
        let ok = try rules(
            file(
                flags:
                    #"{"f": {"state": "ENABLED", "variants": {"s": "stable", "c": "candidate"}, "defaultVariant": "s", "rollbackOn": [{"variant": "c", "above": 0.05}]}}"#
            ))
        #expect(ok.flags[0].tripwires.count == 1)
        #expect(ok.flags[0].tripwires[0].minSamples == 20 && ok.flags[0].tripwires[0].windowSeconds == 10)
        for bad in [
            #"[{"variant": "s", "above": 0.05}]"#, #"[{"variant": "c", "above": 5}]"#,
            #"[{"variant": "c", "above": 0.1, "metric": "p99"}]"#, #"{"variant": "c"}"#,
        ] {
            let errors = loadErrors(
                file(
                    flags:
                        #"{"f": {"state": "ENABLED", "variants": {"s": "stable", "c": "candidate"}, "defaultVariant": "s", "rollbackOn": \#(bad)}}"#
                ))
            #expect(errors.contains { $0.path.hasPrefix("$.flags.f.rollbackOn") }, "\(bad): \(errors)")
        }
    }
}

/// `rollout`: where targeting gives nothing, the stage's share per segment, sticky per key.
@Suite struct RolloutTests {
    static func flags(stage: Int) -> String {
        """
        {"chat": {"state": "ENABLED", "variants": {"stable": "stable", "candidate": "candidate"},
          "defaultVariant": "stable",
          "targeting": {"if": [{"$ref": "escalation"}, "stable", {"$ref": "faq"}, null, null]},
          "rollout": {"variant": "candidate", "stage": \(stage),
                      "stages": [{"faq": 25, "*": 5}, {"faq": 100, "*": 50}]}}}
        """
    }
    static let evaluators =
        #"{"faq": {"==": [{"var": "body.intent"}, "faq"]}, "escalation": {"==": [{"var": "body.intent"}, "escalation"]}}"#

    func share(_ set: RuleSet, intent: String) -> Double {
        var n = 0
        for i in 0..<4000 {
            let ctx = DictContext(values: [.targetingKey: .string("user-\(i)"), .body(["intent"]): .string(intent)])
            if variantName(set, "chat", ctx) == "candidate" { n += 1 }  // also checks program == tree
        }
        return Double(n) / 4000
    }

    @Test func stageSharesBySegment() throws {
        let set = try rules(file(flags: Self.flags(stage: 0), evaluators: Self.evaluators))
        #expect(abs(share(set, intent: "faq") - 0.25) < 0.03)
        #expect(abs(share(set, intent: "chat") - 0.05) < 0.015)
        #expect(share(set, intent: "escalation") == 0)  // targeting decided: stable
        let next = try rules(file(flags: Self.flags(stage: 1), evaluators: Self.evaluators))
        #expect(share(next, intent: "faq") == 1)
        let back = try rules(file(flags: Self.flags(stage: -1), evaluators: Self.evaluators))
        #expect(share(back, intent: "faq") == 0)
    }

    /// Monotonic: every user the candidate had at stage 0 keeps it at stage 1.
    @Test func raisingAStageKeepsEveryoneAlreadyIn() throws {
        let a = try rules(file(flags: Self.flags(stage: 0), evaluators: Self.evaluators))
        let b = try rules(file(flags: Self.flags(stage: 1), evaluators: Self.evaluators))
        for i in 0..<2000 {
            let ctx = DictContext(values: [.targetingKey: .string("u\(i)"), .body(["intent"]): .string("chat")])
            if variantName(a, "chat", ctx) == "candidate" { #expect(variantName(b, "chat", ctx) == "candidate") }
        }
    }

    @Test func mistakesAreReported() {
        for bad in [
            #"{"variant": "stable", "stage": 0, "stages": [{"*": 5}]}"#,
            #"{"variant": "candidate", "stage": 2, "stages": [{"*": 5}]}"#,
            #"{"variant": "candidate", "stage": 0, "stages": [{"nope": 5}]}"#,
            #"{"variant": "candidate", "stage": 0, "stages": [{"*": 500}]}"#,
        ] {
            let text = file(
                flags: """
                    {"chat": {"state": "ENABLED", "variants": {"stable": "stable", "candidate": "candidate"},
                      "defaultVariant": "stable", "targeting": {"if": [{"$ref": "faq"}, null, null]}, "rollout": \(bad)}}
                    """, evaluators: Self.evaluators)
            #expect(loadErrors(text).contains { $0.path.hasPrefix("$.flags.chat.rollout") }, "\(bad)")
        }
    }
}

/// A gated variant's `confidence` object.
struct ConfidenceGateSpecTests {
    func gated(_ confidence: String) -> String {
        file(
            flags: """
                {"chat": {"state": "ENABLED", "variants": {"stable": "stable",
                  "gated": {"upstream": "candidate", "confidence": \(confidence)}},
                  "defaultVariant": "stable", "targeting": "gated"}}
                """)
    }

    @Test func modeDefaultsToBufferAndReadsFirstEvent() throws {
        let plain = try rules(gated(#"{"threshold": 0.8, "fallback": "stable"}"#))
        let g = try #require(plain.flags[0].gates[1])
        #expect(g.mode == .buffer)
        #expect(g.source == .header("x-model-confidence"))
        let streaming = try rules(
            gated(#"{"threshold": 0.7, "fallback": "stable", "from": "json:meta.conf", "mode": "first-event"}"#))
        let f = try #require(streaming.flags[0].gates[1])
        #expect(f.mode == .firstEvent)
        #expect(f.source == .json(["meta", "conf"]))
        #expect(f.threshold == 0.7)
    }

    /// Rollout stages may carry a threshold for a gated variant (and only for one).
    @Test func stagesCarryThresholds() throws {
        let text = file(
            flags: """
                {"chat": {"state": "ENABLED", "variants": {"stable": "stable",
                  "gated": {"upstream": "candidate", "confidence": {"threshold": 0.99, "fallback": "stable"}}},
                  "defaultVariant": "stable", "targeting": {"if": [{"$ref": "faq"}, null, null]},
                  "rollout": {"variant": "gated", "stage": 0, "stages": [
                    {"faq": {"percent": 100, "threshold": 0.9}, "*": 5}, {"*": {"percent": 50}}]}}}
                """, evaluators: #"{"faq": {"==": [{"var": "body.intent"}, "faq"]}}"#)
        let set = try rules(text)
        let r = try #require(set.flags[0].rollout)
        #expect(r.percent(matched: 1) == 100)
        #expect(r.threshold(matched: 1) == 0.9)
        #expect(r.percent(matched: 0) == 5)
        #expect(r.threshold(matched: 0) == nil)
        var next = r
        next.stage = 1
        #expect(next.percent(matched: 1) == 50 && next.threshold(matched: 1) == nil)

        // A blocked segment gets nothing, at any stage; requests outside it still follow the stage.
        let blocked = try rules(
            text.replacingOccurrences(of: #""stage": 0,"#, with: #""stage": 0, "blocked": ["faq"],"#))
        let b = try #require(blocked.flags[0].rollout)
        #expect(b.percent(matched: 1) == 0)
        #expect(b.percent(matched: 0) == 5)
        #expect(
            loadErrors(text.replacingOccurrences(of: #""stage": 0,"#, with: #""stage": 0, "blocked": ["nope"],"#))
                .contains { $0.path == "$.flags.chat.rollout.blocked" })

        let ungated = text.replacingOccurrences(
            of: #""gated": {"upstream": "candidate", "confidence": {"threshold": 0.99, "fallback": "stable"}}"#,
            with: #""gated": "candidate""#)
        #expect(loadErrors(ungated).contains { $0.path == "$.flags.chat.rollout.stages[0].faq.threshold" })
        let badKey = text.replacingOccurrences(of: #""percent": 50"#, with: #""share": 50"#)
        #expect(loadErrors(badKey).contains { $0.path == "$.flags.chat.rollout.stages[1].*.share" })
    }

    @Test(arguments: [
        (
            #"{"threshold": 0.8, "fallback": "stable", "mode": "first-token"}"#,
            "$.flags.chat.variants.gated.confidence.mode"
        ),
        (#"{"threshold": 1.5, "fallback": "stable"}"#, "$.flags.chat.variants.gated.confidence.threshold"),
        (#"{"threshold": 0.8, "fallback": "gated"}"#, "$.flags.chat.variants.gated.confidence.fallback"),
        (#"{"threshold": 0.8, "fallback": "stable", "from": "body"}"#, "$.flags.chat.variants.gated.confidence.from"),
    ])
    func mistakesAreReportedWithTheirPath(_ confidence: String, _ path: String) {
        let errors = loadErrors(gated(confidence))
        #expect(errors.contains { $0.path == path }, "\(errors)")
    }
}

/// A flag's promotion `gates`.
struct PromotionGateSpecTests {
    func gates(_ list: String) -> String {
        file(
            flags: """
                {"chat": {"state": "ENABLED", "variants": {"stable": "stable", "candidate": "candidate"},
                  "defaultVariant": "stable", "gates": \(list)}}
                """)
    }

    @Test func meansTailsAndYardsticks() throws {
        let set = try rules(
            gates(
                """
                [{"metric": "rouge_l", "min": 0.7},
                 {"metric": "rouge_l", "below": 0.3, "max": 0.05, "minSamples": 50},
                 {"metric": "score:quality", "vsBaseline": 0.1},
                 {"metric": "latency_ms", "above": 2000, "max": 0.01},
                 {"metric": "latency_ms", "above": 800, "vsStable": 0},
                 {"metric": "error_rate", "vsStable": 0.01}]
                """))
        let g = set.flags[0].promotionGates
        #expect(g.count == 6)
        #expect(g[0].label == "rouge_l" && g[0].higherIsBetter && !g[0].isTail && g[0].minSamples == 100)
        #expect(g[1].label == "rouge_l<0.3" && !g[1].higherIsBetter && g[1].pastBar(0.29) && !g[1].pastBar(0.3))
        #expect(g[2].label == "score:quality" && g[2].vsBaseline == 0.1)
        #expect(g[3].label == "latency_ms>2000" && g[3].pastBar(2000.5) && !g[3].pastBar(2000))
        #expect(g[4].vsStable == 0 && g[4].above == 800)
        #expect(g[5].vsStable == 0.01 && !g[5].higherIsBetter)
    }

    @Test(arguments: [
        #"[{"metric": "latency_ms", "max": 0.01}]"#,  // latency only as a tail
        #"[{"metric": "latency_ms", "above": -1, "max": 0.01}]"#,
        #"[{"metric": "error_rate", "below": 0.3, "max": 0.01}]"#,  // below is for scores
        #"[{"metric": "rouge_l", "above": 10, "max": 0.01}]"#,  // above is for latency
        #"[{"metric": "rouge_l", "below": 0.3, "min": 0.9}]"#,  // a tail takes max
        #"[{"metric": "rouge_l", "vsStable": 0.1}]"#,  // scores compare with the noise floor
        #"[{"metric": "error_rate", "vsBaseline": 0.1}]"#,
        #"[{"metric": "error_rate", "max": 0.1, "vsStable": 0.1}]"#,  // one yardstick
        #"[{"metric": "p99"}]"#,
    ])
    func mistakesAreRefused(_ list: String) {
        let errors = loadErrors(gates(list))
        #expect(errors.contains { $0.path.hasPrefix("$.flags.chat.gates[0]") }, "\(errors)")
    }
}
