import Foundation
import Rules
import Testing

/// The compiled program against the tree evaluator, over random contexts: same variant, same
/// reason, for the example files and a rules file that uses every operator.
@Suite struct ProgramTests {
    static let everyOperator = file(
        flags: """
            {"f": {"state": "ENABLED", "variants": {"a": "stable", "b": "candidate", "true": "stable", "false": "candidate"},
              "defaultVariant": "a",
              "targeting": {"if": [
                {"and": [{"==": [{"var": "body.tier"}, "gold"]}, {">": [{"var": "request.promptTokens"}, 10]}]}, "b",
                {"or": [{"!": {"var": "headers.x-a"}}, {"!!": {"var": "body.n"}}]}, {"if": [{"<": [1, {"var": "body.n"}, 5]}, "a", "b"]},
                {"in": [{"var": "body.tier"}, ["gold", "silver", 3, true]]}, "a",
                {"in": ["ol", {"var": "body.tier"}]}, "b",
                {"in": [{"var": "headers.x-a"}, {"var": "body.list"}]}, "a",
                {"starts_with": [{"var": "headers.x-a"}, "pre"]}, "b",
                {"ends_with": [{"var": "body.tier"}, "ld"]}, "a",
                {"sem_ver": [{"var": "headers.x-v"}, ">=", "1.2.0"]}, "b",
                {"sem_ver": [{"var": "headers.x-v"}, "^", {"var": "body.tier"}]}, "a",
                {"===": [{"var": "body.n"}, 3]}, "b",
                {"!==": [{"var": ["body.missing", "dflt"]}, "dflt"]}, "a",
                {"<=": [{"var": "body.tier"}, "m"]}, {"==": [{"var": "body.n"}, "3"]},
                {"fractional": [{"var": "body.tier"}, ["a", 30], ["b", 70]]}
              ]}}}
            """)

    static let pool: [Value] = [
        .null, .bool(true), .bool(false), .number(0), .number(3), .number(7.5), .number(-1), .string(""),
        .string("gold"), .string("silver"), .string("old"), .string("3"), .string("pre-x"), .string("1.2.3"),
        .string("v2.0.0-rc.1"), .string("faq"), .string("enterprise"), .string("escalation"), .string("abc"),
        .array([.string("gold"), .number(3)]), .array([]),
    ]

    func check(_ text: String, runs: Int) throws {
        let set = try RulesLoader.load(Array(text.utf8))
        var rng = SystemRandomNumberGenerator()
        let scratch = EvalScratch()
        for _ in 0..<runs {
            var ctx = DictContext()
            for key in set.slotKeys where Bool.random(using: &rng) || key == .targetingKey {
                ctx.values[key] =
                    key == .targetingKey
                    ? .string("user-\(Int.random(in: 0..<50, using: &rng))")
                    : Self.pool.randomElement(using: &rng)!
            }
            // With the decision, reusing the slots it loaded (the scratch still holds the previous
            // context's before it): the same decision, and the tree's segments.
            let path = Array("/v1/chat/completions".utf8)[...]
            let both = set.decideFastWithSegments(path: path, context: ctx, scratch: scratch)
            let alone = set.decideFast(path: path, context: ctx, scratch: scratch)
            #expect(both.decision.flag == alone.flag && both.decision.variant == alone.variant)
            if let f = alone.flag {
                #expect(both.segments == set.matchedSegments(f, context: ctx), "\(ctx.values)")
            }
            for index in set.flags.indices {
                var trace: Trace?
                let tree = set.evaluate(index, context: ctx, trace: &trace)
                let fast = set.evaluateFast(index, context: ctx, scratch: scratch)
                #expect(tree.variant == fast.variant && tree.reason == fast.reason, "\(ctx.values)")
                let segments = set.matchedSegments(index, context: ctx)
                #expect(segments == set.matchedSegmentsFast(index, context: ctx, scratch: scratch), "\(ctx.values)")
            }
        }
    }

    @Test func everyOperatorAgreesWithTheTree() throws {
        let set = try RulesLoader.load(Array(Self.everyOperator.utf8))
        #expect(set.flags[0].program != nil)
        try check(Self.everyOperator, runs: 3000)
    }

    @Test func exampleFilesAgreeWithTheTree() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../examples/rules")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }
        #expect(files.count >= 4)
        var segmentPrograms = 0
        for f in files {
            let text = try String(contentsOf: dir.appendingPathComponent(f), encoding: .utf8)
            try check(text, runs: 500)
            segmentPrograms += try RulesLoader.load(Array(text.utf8)).flags.reduce(0) { $0 + $1.segmentPrograms.count }
        }
        #expect(segmentPrograms >= 4, "the examples' segments run as programs")
    }

    /// A flag the tree decides (disabled: the kill switch) still has its segments as programs:
    /// they must load the request's slots themselves, not use whatever the scratch held.
    @Test func segmentsOfATreeDecidedFlagLoadTheirOwnSlots() throws {
        let text = file(
            flags:
                #"{"off": {"state": "DISABLED", "variants": {"a": "stable", "b": "candidate"}, "defaultVariant": "a", "targeting": {"if": [{"$ref": "gold"}, "b", "a"]}}}"#,
            evaluators: #"{"gold": {"==": [{"var": "body.tier"}, "gold"]}}"#)
        let set = try RulesLoader.load(Array(text.utf8))
        #expect(set.flags[0].segmentPrograms.count == 1)
        try check(text, runs: 300)
    }

    /// A request's strings beyond the scratch's 4 KiB arena are compared whole, request after
    /// request on one scratch (the arena grows after a request that overflowed it): equal
    /// 3,000-byte values match, values that differ only in their last byte do not, and a small
    /// request after a large one is not confused by the large one.
    @Test func comparesStringsBeyondTheArena() throws {
        let text = file(
            flags:
                #"{"f": {"state": "ENABLED", "variants": {"a": "stable", "b": "candidate"}, "defaultVariant": "a", "targeting": {"if": [{"==": [{"var": "body.x"}, {"var": "body.y"}]}, "b", "a"]}}}"#
        )
        let set = try RulesLoader.load(Array(text.utf8))
        #expect(set.flags[0].program != nil)
        let scratch = EvalScratch()
        let long = String(repeating: "g", count: 3000)
        let cases: [(String, String, Int)] = [
            (long, long.dropLast() + "h", 0), (long, long, 1), ("gold", "gold", 1), (long + long, long + long, 1),
            (long + "x", long + "y", 0), ("a", "b", 0), (long + long + long, long + long + long + "z", 0),
        ]
        for (x, y, variant) in cases {
            var ctx = DictContext()
            ctx.values[.body(["x"])] = .string(x)
            ctx.values[.body(["y"])] = .string(y)
            let fast = set.evaluateFast(0, context: ctx, scratch: scratch)
            #expect(fast.variant == variant, "\(x.count) and \(y.count) bytes")
        }
    }

    @Test func catFallsBackToTheTree() throws {
        let text = file(
            flags:
                #"{"f": {"state": "ENABLED", "variants": {"ab": "stable", "x": "candidate"}, "defaultVariant": "x", "targeting": {"cat": ["a", "b"]}}}"#
        )
        let set = try RulesLoader.load(Array(text.utf8))
        #expect(set.flags[0].program == nil)
        #expect(set.evaluateFast(0, context: DictContext(), scratch: EvalScratch()).variant == 0)
    }
}
