/// Reads a rules file: parse, validate, compile. Every problem is reported with its location;
/// a file with any error is refused whole (the last good rules stay in force).
public enum RulesLoader {
    public static let defaultInspectLimit = 256 * 1024

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var errors: [RuleError]
        public var description: String { errors.map(\.description).joined(separator: "\n") }
    }

    public static func load(_ bytes: [UInt8]) throws(Failure) -> RuleSet {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            throw Failure(errors: [
                RuleError(
                    line: 1, column: 1, path: "$",
                    message: "the file is empty (an empty file is never read as \"no flags\")")
            ])
        }
        let root: JSONNode
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            throw Failure(errors: [
                RuleError(line: error.line, column: error.column, path: "$", message: "invalid JSON: \(error.message)")
            ])
        }
        var v = Validator()
        let set = v.build(root, revision: revisionOf(bytes))
        if !v.errors.isEmpty || set == nil { throw Failure(errors: v.errors) }
        return set!
    }

    /// The content hash operators see as the revision (FNV-1a 64, hex).
    public static func revisionOf(_ bytes: [UInt8]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h &*= 0x100_0000_01b3
        }
        let s = String(h, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

struct Validator {
    var errors: [RuleError] = []

    mutating func fail(_ node: JSONNode, _ path: String, _ message: String) {
        errors.append(RuleError(line: node.line, column: node.column, path: path, message: message))
    }

    static let topLevelKeys: Set<String> = [
        "$schema", "upstreams", "defaultUpstream", "targetingKey", "flags", "$evaluators", "settings", "metadata",
    ]

    mutating func build(_ root: JSONNode, revision: String) -> RuleSet? {
        guard let top = root.object else {
            fail(root, "$", "the rules file is a JSON object")
            return nil
        }
        for (k, v) in top where !Validator.topLevelKeys.contains(k) {
            fail(
                v, "$.\(k)", "unknown key '\(k)' (allowed: \(Validator.topLevelKeys.sorted().joined(separator: ", ")))")
        }
        // Upstreams.
        var upstreams: [UpstreamSpec] = []
        var upstreamIndex: [String: Int] = [:]
        if let node = root["upstreams"], let entries = node.object, !entries.isEmpty {
            for (name, u) in entries {
                let p = "$.upstreams.\(name)"
                guard u.object != nil else {
                    fail(u, p, "an upstream is an object {\"address\": \"HOST:PORT\", \"modelVersion\": \"...\"}")
                    continue
                }
                for (k, v) in u.object! where !["address", "modelVersion", "model"].contains(k) {
                    fail(v, "\(p).\(k)", "unknown upstream key '\(k)' (allowed: address, modelVersion, model)")
                }
                guard let address = u["address"]?.string, Validator.isHostPort(address) else {
                    fail(u["address"] ?? u, "\(p).address", "address must be \"HOST:PORT\"")
                    continue
                }
                guard let version = u["modelVersion"]?.string, !version.isEmpty else {
                    fail(
                        u["modelVersion"] ?? u, "\(p).modelVersion", "modelVersion is required: output records carry it"
                    )
                    continue
                }
                var model: String?
                if let m = u["model"] {
                    guard let s = m.string, !s.isEmpty else {
                        fail(m, "\(p).model", "model must be a non-empty string")
                        continue
                    }
                    model = s
                }
                upstreamIndex[name] = upstreams.count
                upstreams.append(UpstreamSpec(name: name, address: address, modelVersion: version, model: model))
            }
        } else {
            fail(
                root["upstreams"] ?? root, "$.upstreams",
                "at least one upstream is required: {\"name\": {\"address\": \"HOST:PORT\", \"modelVersion\": \"...\"}}"
            )
        }
        var defaultUpstream = 0
        if let d = root["defaultUpstream"] {
            if let name = d.string, let i = upstreamIndex[name] {
                defaultUpstream = i
            } else {
                fail(
                    d, "$.defaultUpstream",
                    "defaultUpstream must name one of the upstreams (\(upstreamIndex.keys.sorted().joined(separator: ", ")))"
                )
            }
        } else if upstreams.count > 1 {
            fail(
                root, "$.defaultUpstream",
                "with more than one upstream, defaultUpstream says where requests no flag governs go")
        }
        // Targeting key chain.
        var keySources: [KeySource] = []
        var bodyPaths = Set<[String]>()
        if let tk = root["targetingKey"] {
            let items = tk.array ?? [tk]
            for (i, item) in items.enumerated() {
                guard let s = item.string, let src = Validator.keySource(s) else {
                    fail(
                        item, "$.targetingKey[\(i)]",
                        "a key source is \"header:NAME\" or \"body:PATH\" (e.g. \"header:x-user-id\", \"body:user\")")
                    continue
                }
                if case .body(let p) = src { bodyPaths.insert(p) }
                keySources.append(src)
            }
        } else {
            keySources = [.header("x-user-id"), .body(["user"])]
            bodyPaths.insert(["user"])
        }
        // Settings.
        var responseHeaders = true
        var inspectLimit = RulesLoader.defaultInspectLimit
        if let s = root["settings"] {
            for (k, v) in s.object ?? [] {
                switch k {
                case "responseHeaders":
                    if case .bool(let b) = v.value {
                        responseHeaders = b
                    } else {
                        fail(v, "$.settings.responseHeaders", "true or false")
                    }
                case "bodyInspectLimit":
                    if let n = v.number, n >= 0, n == n.rounded() {
                        inspectLimit = Int(n)
                    } else {
                        fail(v, "$.settings.bodyInspectLimit", "a number of bytes")
                    }
                default:
                    fail(v, "$.settings.\(k)", "unknown setting '\(k)' (allowed: responseHeaders, bodyInspectLimit)")
                }
            }
        }
        // Shared evaluators.
        var evaluators: [String: JSONNode] = [:]
        var segmentNames: [String] = []
        if let e = root["$evaluators"] {
            guard let entries = e.object else {
                fail(e, "$.$evaluators", "$evaluators is an object of named rules")
                return nil
            }
            for (name, rule) in entries {
                evaluators[name] = rule
                segmentNames.append(name)
            }
        }
        var compiler = Compiler(evaluators: evaluators)
        // Flags.
        var flags: [Flag] = []
        if let f = root["flags"], let entries = f.object {
            for (key, node) in entries {
                if let flag = buildFlag(key, node, upstreamIndex, &compiler) { flags.append(flag) }
            }
        } else {
            fail(root["flags"] ?? root, "$.flags", "flags is required (an object, may be empty)")
        }
        // Compile every evaluator too, so an unused broken one is still reported.
        for (name, rule) in evaluators {
            var c = Compiler(evaluators: evaluators)
            _ = c.compile(rule, "$.$evaluators.\(name)")
            for e in c.errors where !compiler.errors.contains(where: { $0.line == e.line && $0.column == e.column }) {
                errors.append(e)
            }
        }
        errors.append(contentsOf: compiler.errors)
        bodyPaths.formUnion(compiler.bodyPaths)
        // Facts include the body's model, which matching by model and rewriting it both need.
        let needsFacts =
            compiler.usesFacts || flags.contains { $0.match.models != nil } || upstreams.contains { $0.model != nil }
        guard errors.isEmpty else { return nil }
        return RuleSet(
            revision: revision, upstreams: upstreams, defaultUpstream: defaultUpstream, flags: flags,
            keySources: keySources,
            bodyPaths: bodyPaths.sorted { $0.joined(separator: ".") < $1.joined(separator: ".") },
            needsFacts: needsFacts, responseHeaders: responseHeaders, inspectLimit: inspectLimit,
            segmentNames: segmentNames)
    }

    /// Whether `name` can be written into a response header as it is: no control characters
    /// (CR or LF would end the header early; the others are not allowed in a field value).
    static func fitsAHeader(_ name: String) -> Bool {
        !name.utf8.contains { $0 < 0x20 || $0 == 0x7F }
    }

    private mutating func buildFlag(
        _ key: String, _ node: JSONNode, _ upstreamIndex: [String: Int], _ compiler: inout Compiler
    ) -> Flag? {
        let p = "$.flags.\(key)"
        guard let obj = node.object else {
            fail(node, p, "a flag is an object with state, variants, defaultVariant and optional targeting")
            return nil
        }
        let allowed = [
            "state", "variants", "defaultVariant", "targeting", "match", "shadow", "records", "rollbackOn", "gates",
            "rollout", "evaluator", "metadata",
        ]
        for (k, v) in obj where !allowed.contains(k) {
            fail(v, "\(p).\(k)", "unknown flag key '\(k)' (allowed: \(allowed.joined(separator: ", ")))")
        }
        if !Self.fitsAHeader(key) {
            fail(node, p, "a flag key has no control characters (responses name it in the X-ModelFlag-Flag header)")
        }
        var enabled = true
        switch node["state"]?.string {
        case "ENABLED": enabled = true
        case "DISABLED": enabled = false
        default:
            fail(node["state"] ?? node, "\(p).state", "state must be \"ENABLED\" or \"DISABLED\"")
        }
        var variants: [(name: String, upstream: Int)] = []
        var gateNodes: [(variant: Int, node: JSONNode)] = []
        if let vs = node["variants"]?.object, !vs.isEmpty {
            for (name, target) in vs {
                if !Self.fitsAHeader(name) {
                    fail(
                        target, "\(p).variants",
                        "a variant name has no control characters (responses name it in the X-ModelFlag-Variant header)"
                    )
                }
                if target.object != nil, let u = target["upstream"]?.string, let i = upstreamIndex[u] {
                    // A gated variant: {"upstream": ..., "confidence": {...}}.
                    for (k, v) in target.object! where k != "upstream" && k != "confidence" {
                        fail(v, "\(p).variants.\(name).\(k)", "unknown key '\(k)' (allowed: upstream, confidence)")
                    }
                    if let c = target["confidence"] {
                        gateNodes.append((variants.count, c))
                    }
                    variants.append((name, i))
                    continue
                }
                guard let u = target.string, let i = upstreamIndex[u] else {
                    fail(
                        target, "\(p).variants.\(name)",
                        "a variant's value names an upstream (\(upstreamIndex.keys.sorted().joined(separator: ", "))), or is {\"upstream\": NAME, \"confidence\": {...}}"
                    )
                    continue
                }
                variants.append((name, i))
            }
        } else {
            fail(
                node["variants"] ?? node, "\(p).variants",
                "variants is a non-empty object: variant name -> upstream name")
        }
        var defaultVariant = 0
        if let d = node["defaultVariant"]?.string, let i = variants.firstIndex(where: { $0.name == d }) {
            defaultVariant = i
        } else {
            fail(
                node["defaultVariant"] ?? node, "\(p).defaultVariant",
                "defaultVariant must name one of the flag's variants")
        }
        var targeting: Expr?
        if let t = node["targeting"] {
            if let o = t.object, o.isEmpty {
                targeting = nil  // flagd: {} means no targeting
            } else {
                targeting = compiler.compile(t, "\(p).targeting")
            }
        }
        var match = FlagMatch()
        if let m = node["match"] {
            for (k, v) in m.object ?? [] {
                switch k {
                case "pathPrefix":
                    if let s = v.string, s.hasPrefix("/") {
                        match.pathPrefix = s
                    } else {
                        fail(v, "\(p).match.pathPrefix", "a path starting with '/'")
                    }
                case "model":
                    let items = v.array ?? [v]
                    let names = items.compactMap(\.string)
                    if names.count == items.count && !names.isEmpty {
                        match.models = names
                    } else {
                        fail(v, "\(p).match.model", "a model alias or a list of them")
                    }
                default:
                    fail(v, "\(p).match.\(k)", "unknown match key '\(k)' (allowed: pathPrefix, model)")
                }
            }
        }
        guard !variants.isEmpty else { return nil }
        let shadow = node["shadow"].flatMap { buildShadow($0, "\(p).shadow", variants) }
        let capture = node["records"].map { buildCapture($0, "\(p).records") } ?? CaptureSpec()
        let flag = Flag(
            key: key, keyBytes: Array(key.utf8), enabled: enabled, variants: variants, defaultVariant: defaultVariant,
            targeting: targeting, match: match, shadow: shadow, capture: capture,
            segments: targeting.map { $0.segmentsReferenced() } ?? [])
        if let r = node["rollbackOn"] {
            flag.tripwires = buildTripwires(r, "\(p).rollbackOn", variants, defaultVariant)
        }
        if let g = node["gates"] { flag.promotionGates = buildPromotionGates(g, "\(p).gates") }
        if let e = node["evaluator"] { flag.evaluator = buildEvaluator(e, "\(p).evaluator") }
        flag.gates = [ConfidenceGate?](repeating: nil, count: variants.count)
        for (vi, g) in gateNodes {
            flag.gates[vi] = buildGate(g, "\(p).variants.\(variants[vi].name).confidence", variants, vi)
        }
        // After the gates: a stage may set a gated variant's threshold.
        if let r = node["rollout"] { flag.rollout = buildRollout(r, "\(p).rollout", flag) }
        return flag
    }

    private mutating func buildEvaluator(_ node: JSONNode, _ p: String) -> EvaluatorSpec? {
        for (k, v) in node.object ?? [] where !["url", "sampleRate", "timeoutMs", "maxInFlight"].contains(k) {
            fail(v, "\(p).\(k)", "unknown evaluator key '\(k)' (allowed: url, sampleRate, timeoutMs, maxInFlight)")
        }
        guard let url = node["url"]?.string, let parsed = EvaluatorSpec.parseURL(url) else {
            fail(node["url"] ?? node, "\(p).url", "url is http://HOST:PORT/path")
            return nil
        }
        let rate = node["sampleRate"]?.number ?? 1
        guard rate >= 0, rate <= 1 else {
            fail(node["sampleRate"]!, "\(p).sampleRate", "a share from 0 to 1")
            return nil
        }
        var timeout = 5_000
        if let t = node["timeoutMs"] {
            guard let n = positiveInt(t) else {
                fail(t, "\(p).timeoutMs", "a positive number of milliseconds")
                return nil
            }
            timeout = n
        }
        guard let cap = optionalPositiveInt(node, "maxInFlight", p, default: 16) else { return nil }
        return EvaluatorSpec(
            address: parsed.address, path: parsed.path, sampleRate: rate, timeoutMs: UInt64(timeout), maxInFlight: cap)
    }

    private mutating func buildRollout(_ node: JSONNode, _ p: String, _ flag: Flag) -> Rollout? {
        guard node.object != nil else {
            fail(
                node, p,
                "rollout is {\"variant\": NAME, \"stage\": N, \"stages\": [{\"SEGMENT\": PERCENT, \"*\": PERCENT}, ...]}"
            )
            return nil
        }
        for (k, v) in node.object! where !["variant", "stage", "stages", "blocked"].contains(k) {
            fail(v, "\(p).\(k)", "unknown rollout key '\(k)' (allowed: variant, stage, stages, blocked)")
        }
        var blocked: UInt64 = 0
        if let b = node["blocked"] {
            for item in b.array ?? [b] {
                guard let name = item.string, let si = flag.segments.firstIndex(where: { $0.name == name }), si < 64
                else {
                    fail(
                        item, "\(p).blocked",
                        "blocked lists segments this flag's targeting references (\(flag.segments.map(\.name).joined(separator: ", ")))"
                    )
                    continue
                }
                blocked |= 1 << UInt64(si)
            }
        }
        guard let name = node["variant"]?.string, let vi = flag.variants.firstIndex(where: { $0.name == name }),
            vi != flag.defaultVariant
        else {
            fail(node["variant"] ?? node, "\(p).variant", "variant names a variant of the flag other than the default")
            return nil
        }
        guard let list = node["stages"]?.array, !list.isEmpty else {
            fail(node["stages"] ?? node, "\(p).stages", "stages is a non-empty list of {SEGMENT or \"*\": PERCENT}")
            return nil
        }
        let gated = flag.gates.indices.contains(vi) && flag.gates[vi] != nil
        var stages: [[Rollout.Entry]] = []
        for (n, st) in list.enumerated() {
            var entries: [Rollout.Entry] = []
            for (segName, v) in st.object ?? [] {
                let at = "\(p).stages[\(n)].\(segName)"
                var threshold: Double?
                var percentNode = v
                if let obj = v.object {
                    for (k, x) in obj where k != "percent" && k != "threshold" {
                        fail(x, "\(at).\(k)", "unknown key '\(k)' (allowed: percent, threshold)")
                    }
                    percentNode = v["percent"] ?? v
                    if let t = v["threshold"] {
                        guard gated else {
                            fail(t, "\(at).threshold", "a threshold needs a confidence-gated rollout variant")
                            continue
                        }
                        guard let x = t.number, x >= 0, x <= 1 else {
                            fail(t, "\(at).threshold", "a confidence threshold from 0 to 1")
                            continue
                        }
                        threshold = x
                    }
                }
                guard let pct = percentNode.number, pct >= 0, pct <= 100 else {
                    fail(percentNode, at, "a percentage from 0 to 100, or {\"percent\": P, \"threshold\": T}")
                    continue
                }
                if segName == "*" {
                    entries.append(Rollout.Entry(segment: nil, percent: pct, threshold: threshold))
                } else if let si = flag.segments.firstIndex(where: { $0.name == segName }) {
                    entries.append(Rollout.Entry(segment: si, percent: pct, threshold: threshold))
                } else {
                    fail(
                        v, "\(p).stages[\(n)].\(segName)",
                        "'\(segName)' is not a segment this flag's targeting references (\(flag.segments.map(\.name).joined(separator: ", ")))"
                    )
                }
            }
            if st.object == nil || st.object!.isEmpty {
                fail(st, "\(p).stages[\(n)]", "a stage is {SEGMENT or \"*\": PERCENT}")
            }
            stages.append(entries)
        }
        guard let stageNode = node["stage"], let stage = stageNode.number, stage == stage.rounded(), stage >= -1,
            Int(stage) < stages.count
        else {
            fail(
                node["stage"] ?? node, "\(p).stage",
                "stage is an index into stages (0 to \(stages.count - 1)), or -1 (rolled back)")
            return nil
        }
        var rollout = Rollout(variant: vi, stage: Int(stage), stages: stages)
        rollout.blocked = blocked
        return rollout
    }

    private mutating func buildPromotionGates(_ node: JSONNode, _ p: String) -> [PromotionGate] {
        guard let items = node.array else {
            fail(node, p, "gates is a list of {\"metric\", \"max\" or \"min\", \"minSamples\"}")
            return []
        }
        var out: [PromotionGate] = []
        for (n, item) in items.enumerated() {
            let ip = "\(p)[\(n)]"
            let keys = ["metric", "max", "min", "vsBaseline", "vsStable", "minSamples", "below", "above"]
            for (k, v) in item.object ?? [] where !keys.contains(k) {
                fail(v, "\(ip).\(k)", "unknown gate key '\(k)' (allowed: \(keys.joined(separator: ", ")))")
            }
            let name = item["metric"]?.string ?? ""
            var scoreName: String?
            let metric: PromotionGate.Metric
            if name.hasPrefix("score:"), name.count > 6 {
                metric = .score
                scoreName = String(name.dropFirst(6))
            } else if let m = PromotionGate.Metric(rawValue: name), m != .score {
                metric = m
            } else {
                let known = PromotionGate.Metric.allCases.filter { $0 != .score }.map(\.rawValue)
                fail(
                    item["metric"] ?? item, "\(ip).metric",
                    "metric is one of \(known.joined(separator: ", ")), or score:NAME (an evaluator score)")
                continue
            }
            let max = item["max"]?.number
            let min = item["min"]?.number
            let vs = item["vsBaseline"]?.number
            let vsStable = item["vsStable"]?.number
            let given = [max, min, vs, vsStable].compactMap { $0 }
            guard given.count == 1, given[0] >= 0, given[0] <= 1 else {
                fail(
                    item, ip,
                    "a gate has exactly one of \"max\", \"min\", \"vsBaseline\" or \"vsStable\", a value from 0 to 1")
                continue
            }
            let below = item["below"]?.number
            let above = item["above"]?.number
            let scoreLike = metric == .rougeL || metric == .score
            if let b = item["below"], below == nil || !scoreLike || !(0...1).contains(below!) {
                fail(b, "\(ip).below", "below is a bar from 0 to 1 for rouge_l or score:NAME (a low tail)")
                continue
            }
            if let a = item["above"], above == nil || metric != .latencyMs || above! < 0 {
                fail(a, "\(ip).above", "above is a latency in milliseconds, for latency_ms (a high tail)")
                continue
            }
            if metric == .latencyMs && above == nil {
                fail(
                    item, ip,
                    "latency_ms is judged as a tail: {\"metric\": \"latency_ms\", \"above\": MS, \"max\": SHARE}")
                continue
            }
            let tail = below != nil || above != nil
            if tail && min != nil {
                fail(
                    item, ip, "a tail is a share that should stay low: it takes max (or vsBaseline / vsStable), not min"
                )
                continue
            }
            if vs != nil && (metric == .errorRate || metric == .latencyMs) {
                fail(item, ip, "vsBaseline compares shadow scores with the noise floor; \(name) takes max or vsStable")
                continue
            }
            if vsStable != nil && metric != .errorRate && metric != .latencyMs {
                fail(item, ip, "vsStable compares error_rate or latency_ms with stable's own; scores take vsBaseline")
                continue
            }
            guard let minSamples = optionalPositiveInt(item, "minSamples", ip, default: 100) else { continue }
            var gate = PromotionGate(metric: metric, max: max, min: min, vsBaseline: vs, minSamples: minSamples)
            gate.scoreName = scoreName
            gate.vsStable = vsStable
            gate.below = below
            gate.above = above
            out.append(gate)
        }
        return out
    }

    private mutating func buildGate(
        _ node: JSONNode, _ p: String, _ variants: [(name: String, upstream: Int)], _ own: Int
    ) -> ConfidenceGate? {
        guard node.object != nil else {
            fail(
                node, p,
                "confidence is {\"threshold\": 0.8, \"fallback\": VARIANT, \"from\": \"header:NAME\" | \"json:PATH\" | \"logprobs\"}"
            )
            return nil
        }
        for (k, v) in node.object! where !["threshold", "fallback", "from", "maxBufferBytes", "mode"].contains(k) {
            fail(v, "\(p).\(k)", "unknown key '\(k)' (allowed: threshold, fallback, from, maxBufferBytes, mode)")
        }
        guard let threshold = node["threshold"]?.number, threshold >= 0, threshold <= 1 else {
            fail(node["threshold"] ?? node, "\(p).threshold", "threshold is a confidence from 0 to 1")
            return nil
        }
        guard let fb = node["fallback"]?.string, let fallback = variants.firstIndex(where: { $0.name == fb }),
            fallback != own
        else {
            fail(
                node["fallback"] ?? node, "\(p).fallback", "fallback names another variant of the flag (the stable one)"
            )
            return nil
        }
        let fromText = node["from"]?.string ?? "header:x-model-confidence"
        guard let source = ConfidenceGate.source(fromText) else {
            fail(node["from"] ?? node, "\(p).from", "from is \"header:NAME\", \"json:PATH\" or \"logprobs\"")
            return nil
        }
        var mode = ConfidenceGate.Mode.buffer
        if let m = node["mode"] {
            guard let s = m.string, let parsed = ConfidenceGate.Mode(rawValue: s) else {
                fail(
                    m, "\(p).mode",
                    "mode is \"buffer\" (hold the whole answer) or \"first-event\" (decide on a stream's first event)")
                return nil
            }
            mode = parsed
        }
        guard
            let maxBuffer = optionalPositiveInt(
                node, "maxBufferBytes", p, default: ConfidenceGate.defaultMaxBufferBytes)
        else { return nil }
        var gate = ConfidenceGate(threshold: threshold, fallback: fallback, source: source, maxBufferBytes: maxBuffer)
        gate.mode = mode
        return gate
    }

    private mutating func buildTripwires(
        _ node: JSONNode, _ p: String, _ variants: [(name: String, upstream: Int)], _ defaultVariant: Int
    ) -> [Tripwire] {
        guard let items = node.array else {
            fail(
                node, p,
                "rollbackOn is a list of {\"variant\", \"metric\", \"above\", \"minSamples\", \"windowSeconds\"}")
            return []
        }
        var out: [Tripwire] = []
        for (n, item) in items.enumerated() {
            let ip = "\(p)[\(n)]"
            guard let obj = item.object else {
                fail(item, ip, "a tripwire is an object")
                continue
            }
            for (k, v) in obj where !["variant", "metric", "above", "minSamples", "windowSeconds"].contains(k) {
                fail(
                    v, "\(ip).\(k)",
                    "unknown tripwire key '\(k)' (allowed: variant, metric, above, minSamples, windowSeconds)")
            }
            guard let name = item["variant"]?.string, let vi = variants.firstIndex(where: { $0.name == name }) else {
                fail(item["variant"] ?? item, "\(ip).variant", "variant names one of the flag's variants")
                continue
            }
            if vi == defaultVariant {
                fail(
                    item["variant"]!, "\(ip).variant",
                    "the default variant is where a tripped variant's traffic goes; it cannot trip itself")
                continue
            }
            let metricName = item["metric"]?.string ?? "error_rate"
            guard let metric = Tripwire.Metric(rawValue: metricName) else {
                fail(item["metric"]!, "\(ip).metric", "metric is \"error_rate\" or \"timeout_rate\"")
                continue
            }
            guard let above = item["above"]?.number, above >= 0, above < 1 else {
                fail(item["above"] ?? item, "\(ip).above", "above is a rate from 0 to 1 (e.g. 0.05 for 5 %)")
                continue
            }
            guard let minSamples = optionalPositiveInt(item, "minSamples", ip, default: 20) else { continue }
            var windowSeconds = 10
            if let w = item["windowSeconds"] {
                guard let n = positiveInt(w), n <= 3600 else {
                    fail(w, "\(ip).windowSeconds", "a whole number of seconds from 1 to 3600")
                    continue
                }
                windowSeconds = n
            }
            out.append(
                Tripwire(
                    variant: vi, metric: metric, above: above, minSamples: minSamples, windowSeconds: windowSeconds))
        }
        return out
    }

    private mutating func buildShadow(
        _ node: JSONNode, _ p: String, _ variants: [(name: String, upstream: Int)]
    ) -> ShadowSpec? {
        guard let obj = node.object else {
            fail(node, p, "shadow is an object: {\"variants\": [\"candidate\"], \"percentage\": 100}")
            return nil
        }
        var spec = ShadowSpec(variants: [])
        for (k, v) in obj {
            switch k {
            case "variants":
                let items = v.array ?? [v]
                for item in items {
                    if let name = item.string, let i = variants.firstIndex(where: { $0.name == name }) {
                        if !spec.variants.contains(i) { spec.variants.append(i) }
                    } else {
                        fail(
                            item, "\(p).variants",
                            "a shadow variant names one of the flag's variants (\(variants.map(\.name).joined(separator: ", ")))"
                        )
                    }
                }
            case "percentage":
                if let n = v.number, n >= 0, n <= 100 {
                    spec.percentage = n
                } else {
                    fail(v, "\(p).percentage", "a number from 0 to 100")
                }
            case "sampleBy":
                if let s = v.string, let by = ShadowSpec.SampleBy(rawValue: s) {
                    spec.sampleBy = by
                } else {
                    fail(v, "\(p).sampleBy", "\"targetingKey\" (sticky) or \"random\"")
                }
            case "maxInFlight":
                if let n = positiveInt(v) {
                    spec.maxInFlight = n
                } else {
                    fail(v, "\(p).maxInFlight", "a positive integer")
                }
            case "timeoutMs":
                if let n = positiveInt(v) {
                    spec.timeoutMs = UInt64(n)
                } else {
                    fail(v, "\(p).timeoutMs", "a positive number of milliseconds")
                }
            case "maxBodyBytes":
                if let n = positiveInt(v) {
                    spec.maxBodyBytes = n
                } else {
                    fail(v, "\(p).maxBodyBytes", "a positive integer")
                }
            case "noiseFloor":
                if let n = v.number, n >= 0, n <= 100 {
                    spec.noiseFloor = n
                } else {
                    fail(
                        v, "\(p).noiseFloor",
                        "a percentage from 0 to 100 of requests also mirrored to the served variant")
                }
            case "compare":
                if let b = v.bool {
                    spec.compare = b
                } else {
                    fail(v, "\(p).compare", "true (score each shadow answer against the served one) or false")
                }
            case "start":
                if let st = v.string, let start = ShadowSpec.Start(rawValue: st) {
                    spec.start = start
                } else {
                    fail(
                        v, "\(p).start",
                        "\"first-byte\" (copies leave once the served answer's first byte arrived) or \"request\" (with the request)"
                    )
                }
            default:
                fail(
                    v, "\(p).\(k)",
                    "unknown shadow key '\(k)' (allowed: variants, percentage, sampleBy, maxInFlight, timeoutMs, maxBodyBytes, noiseFloor, compare, start)"
                )
            }
        }
        if spec.variants.isEmpty {
            fail(node["variants"] ?? node, "\(p).variants", "shadow needs at least one variant to mirror to")
            return nil
        }
        return spec
    }

    private mutating func buildCapture(_ node: JSONNode, _ p: String) -> CaptureSpec {
        var spec = CaptureSpec()
        guard let obj = node.object else {
            fail(node, p, "records is an object: {\"capture\": \"none\" | \"hash\" | \"full\"}")
            return spec
        }
        for (k, v) in obj {
            switch k {
            case "capture":
                if let s = v.string, let m = CaptureSpec.Mode(rawValue: s) {
                    spec.mode = m
                } else {
                    fail(v, "\(p).capture", "\"none\" (default), \"hash\" or \"full\"")
                }
            case "maxBodyBytes":
                if let n = positiveInt(v) {
                    spec.maxBodyBytes = n
                } else {
                    fail(v, "\(p).maxBodyBytes", "a positive integer")
                }
            case "redact":
                for item in v.array ?? [v] {
                    let parts = item.string?.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
                    if let parts, !parts.isEmpty, !parts.contains(where: \.isEmpty) {
                        spec.redact.append(parts)
                    } else {
                        fail(item, "\(p).redact", "a JSON field path such as \"user\" or \"messages.content\"")
                    }
                }
            default:
                fail(v, "\(p).\(k)", "unknown records key '\(k)' (allowed: capture, maxBodyBytes, redact)")
            }
        }
        return spec
    }

    /// `object[key]` as a positive integer, `default` when absent; nil (and the error recorded
    /// at `path.key`) when present but not one.
    private mutating func optionalPositiveInt(_ object: JSONNode, _ key: String, _ path: String, default d: Int)
        -> Int?
    {
        guard let m = object[key] else { return d }
        guard let n = positiveInt(m) else {
            fail(m, "\(path).\(key)", "a positive integer")
            return nil
        }
        return n
    }

    private func positiveInt(_ node: JSONNode) -> Int? {
        guard let n = node.number, n >= 1, n == n.rounded(), n < 1e15 else { return nil }
        return Int(n)
    }

    static func isHostPort(_ s: String) -> Bool {
        guard let colon = s.lastIndex(of: ":"), colon != s.startIndex, let port = UInt16(s[s.index(after: colon)...]),
            port > 0
        else { return false }
        return true
    }

    static func keySource(_ s: String) -> KeySource? {
        if s.hasPrefix("header:") {
            let n = s.dropFirst(7).lowercased()
            return n.isEmpty ? nil : .header(n)
        }
        if s.hasPrefix("body:") {
            let parts = s.dropFirst(5).split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            return parts.isEmpty || parts.count > 8 || parts.contains(where: \.isEmpty) ? nil : .body(parts)
        }
        return nil
    }
}
