import Rules
import Testing

/// A context over plain values, for evaluating rules without a request.
struct DictContext: EvaluationContext {
    var values: [ContextKey: Value] = [:]
    func lookup(_ key: ContextKey) -> Value { values[key] ?? .null }
}

func rules(_ text: String) throws -> RuleSet {
    try RulesLoader.load(Array(text.utf8))
}

func loadErrors(_ text: String) -> [RuleError] {
    do {
        _ = try RulesLoader.load(Array(text.utf8))
        return []
    } catch {
        return error.errors
    }
}

/// A rules file with two upstreams and the given flags / evaluators JSON.
func file(flags: String, evaluators: String = "{}") -> String {
    """
    {
      "upstreams": {
        "stable": {"address": "127.0.0.1:9001", "modelVersion": "v1"},
        "candidate": {"address": "127.0.0.1:9002", "modelVersion": "v2", "model": "cand"}
      },
      "defaultUpstream": "stable",
      "$evaluators": \(evaluators),
      "flags": \(flags)
    }
    """
}

/// The variant the tree evaluator picks; the compiled program (when the flag has one) must pick
/// the same variant for the same reason, so every operator test checks both engines.
func variantName(_ set: RuleSet, _ flag: String, _ ctx: DictContext) -> String {
    let index = set.flags.firstIndex { $0.key == flag }!
    var trace: Trace?
    let d = set.evaluate(index, context: ctx, trace: &trace)
    let fast = set.evaluateFast(index, context: ctx, scratch: EvalScratch())
    #expect(fast.variant == d.variant && fast.reason == d.reason, "program and tree disagree on flag \(flag)")
    return set.flags[index].variants[d.variant].name
}
