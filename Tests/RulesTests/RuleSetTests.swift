import Rules
import Testing

/// What a loaded rule set says about the body and the targeting key (the router scans the body
/// only when something needs it).
@Suite struct RuleSetTests {
    /// Two upstreams without model rewrites (a rewrite needs the body's model).
    func set(_ flag: String, keys: String = "") throws -> RuleSet {
        try rules(
            """
            {
              "upstreams": {
                "stable": {"address": "127.0.0.1:9001", "modelVersion": "v1"},
                "candidate": {"address": "127.0.0.1:9002", "modelVersion": "v2"}
              },
              "defaultUpstream": "stable",\(keys)
              "flags": {"chat": {"state": "ENABLED", "variants": {"stable": "stable", "candidate": "candidate"},
                "defaultVariant": "stable"\(flag)}}
            }
            """)
    }

    /// A flag that matches by the body's `"model"` alias governs only those requests; the next
    /// flag takes the others.
    @Test func flagsMatchByTheBodysModel() throws {
        let s = try rules(
            file(
                flags: """
                    {"auto": {"state": "ENABLED", "match": {"model": ["auto"]}, "variants": {"c": "candidate"}, "defaultVariant": "c"},
                     "rest": {"state": "ENABLED", "variants": {"s": "stable"}, "defaultVariant": "s"}}
                    """))
        #expect(s.needsFacts)
        let path = Array("/v1/chat/completions".utf8)[...]
        for (model, flag) in [("auto", "auto"), ("chat", "rest"), (nil, "rest")] {
            var ctx = DictContext()
            if let model { ctx.values[.fact(.model)] = .string(model) }
            let d = s.decideFast(path: path, context: ctx, scratch: EvalScratch())
            #expect(d.flag.map { s.flags[$0].key } == flag, "model \(model ?? "none")")
        }
    }

    @Test func mirroringEverythingNeedsNeitherTheBodyNorTheKey() throws {
        let s = try set(#", "shadow": {"variants": ["candidate"]}"#)
        #expect(s.needsBody)  // the default key chain reads body.user...
        #expect(!s.rulesReadBody)  // ...but only for the key
        #expect(!s.keyDecides)
    }

    @Test(arguments: [
        #", "targeting": {"fractional": [["candidate", 10], ["stable", 90]]}"#,
        #", "targeting": {"if": [{"==": [{"var": "headers.x-tier"}, "gold"]}, "candidate", "stable"]}"#,
        #", "shadow": {"variants": ["candidate"], "percentage": 10}"#,
        #", "rollout": {"variant": "candidate", "stage": 1, "stages": [{"*": 5}, {"*": 25}]}"#,
    ])
    func splitsStagesAndStickySamplesDependOnTheKey(_ flag: String) throws {
        #expect(try set(flag).keyDecides)
    }

    @Test func aRandomSampleDoesNotNeedTheKey() throws {
        #expect(
            !(try set(#", "shadow": {"variants": ["candidate"], "percentage": 10, "sampleBy": "random"}"#).keyDecides))
    }

    @Test func rulesOnBodyFieldsReadTheBody() throws {
        let s = try set(
            #", "targeting": {"if": [{"==": [{"var": "body.metadata.tier"}, "gold"]}, "candidate", "stable"]}"#)
        #expect(s.rulesReadBody)
        let keyOnly = try set("", keys: #" "targetingKey": ["body:user"],"#)
        #expect(!keyOnly.rulesReadBody)
        #expect(keyOnly.needsBody)
    }
}
