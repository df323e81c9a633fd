// libFuzzer driver for the rules loader. One rules file is shared by every pod of a deployment and
// hot-reloaded: a file that crashes the loader would stop every sidecar at once. Any input must
// load or be refused without a crash, a hang or a memory error (AddressSanitizer is on). A file
// that loads is then evaluated for every flag over contexts drawn from the input: the compiled
// program (the request path, unsafe stack memory) must pick the same variant for the same reason
// as the tree evaluator (`explain`), and `explain`'s tracing must not crash.
// Build and run with fuzz/run-rules.sh (compiled with Sources/Rules, no SwiftPM target).

struct PoolContext: EvaluationContext {
    var values: [ContextKey: Value] = [:]
    func lookup(_ key: ContextKey) -> Value { values[key] ?? .null }
}

let pool: [Value] = [
    .null, .bool(true), .bool(false), .number(0), .number(3), .number(-2.5), .number(1e300), .number(.nan),
    .string(""), .string("gold"), .string("enterprise"), .string("escalation"), .string("1.2.3"),
    .string("v2.0.0-rc.1"), .string("a"), .string("/v1/chat/completions"), .string("\u{e9}\u{1F600}"),
    .array([]), .array([.string("gold"), .number(3), .null]),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let set = try? RulesLoader.load(bytes) else { return 0 }
    precondition(!set.revision.isEmpty, "a loaded rule set without a revision")
    // Contexts from the input's own bytes: deterministic, so a failure reproduces.
    var seed = UInt64(size) &* 0x9E37_79B9_7F4A_7C15
    for b in bytes.prefix(64) { seed = (seed ^ UInt64(b)) &* 0x100_0000_01B3 }
    let scratch = EvalScratch()
    for run in 0..<8 {
        var ctx = PoolContext()
        for (i, key) in set.slotKeys.enumerated() {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let pick = Int(truncatingIfNeeded: (seed >> 33) % UInt64(pool.count + 1))
            if key == .targetingKey {
                ctx.values[key] = run == 7 ? .null : .string(ArraySlice("user-\(run)-\(i)".utf8))
            } else if pick < pool.count {
                ctx.values[key] = pool[pick]
            }
        }
        for index in set.flags.indices {
            var none: Trace?
            let tree = set.evaluate(index, context: ctx, trace: &none)
            let fast = set.evaluateFast(index, context: ctx, scratch: scratch)
            precondition(
                tree.variant == fast.variant && tree.reason == fast.reason && tree.upstream == fast.upstream,
                "program and tree disagree on flag \(set.flags[index].key): \(tree) against \(fast)")
            var trace: Trace? = Trace()
            let traced = set.evaluate(index, context: ctx, trace: &trace)
            precondition(traced.variant == tree.variant, "tracing changed the decision")
            _ = set.matchedSegments(index, context: ctx)
        }
        var none: Trace?
        let path = ArraySlice("/v1/chat/completions".utf8)
        let d = set.decide(path: path, context: ctx, trace: &none)
        let f = set.decideFast(path: path, context: ctx, scratch: scratch)
        precondition(d.flag == f.flag && d.variant == f.variant, "decide and decideFast disagree")
    }
    return 0
}
