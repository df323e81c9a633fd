import HTTP1
import Rules

/// `modelflag explain`: evaluates the rules for one request exactly as the proxy would, and says
/// why: the flag that governs it, each predicate's value, the bucket, the variant and upstream.
public enum Explain {
    public static func run(rules: RuleSet, method: String, path: String, headers: [(String, String)], body: [UInt8])
        -> String
    {
        var headText = "\(method) \(path) HTTP/1.1\r\nHost: explain\r\n"
        for (n, v) in headers { headText += "\(n): \(v)\r\n" }
        headText += "Content-Length: \(body.count)\r\n\r\n"
        let bytes = Array(headText.utf8)
        let parsed = bytes.withUnsafeBytes { p in
            Result { () throws(HTTPError) in try RequestHead.parse(p, limits: Limits()) }
        }
        guard case .success(let head) = parsed else {
            if case .failure(let e) = parsed { return "error: the headers do not form a valid request: \(e)" }
            return "error"
        }
        var out = "rules revision \(rules.revision)\n"
        let facts =
            rules.needsBody
            ? BodyScanner(paths: rules.bodyPaths, facts: rules.needsFacts).scan(body, limit: rules.inspectLimit)
            : BodyFacts()
        if rules.needsBody {
            out +=
                "body: \(body.count) bytes, "
                + (facts.parsed
                    ? "parsed"
                    : facts.tooLarge
                        ? "over the inspection limit (body predicates are false)"
                        : "not JSON (body predicates are false)") + "\n"
            if facts.parsed && rules.needsFacts {
                out +=
                    "facts: messageCount=\(facts.messageCount) userTurns=\(facts.userTurns) promptTokens=\(facts.promptTokens) hasTools=\(facts.hasTools) hasImages=\(facts.hasImages) hasResponseFormat=\(facts.hasResponseFormat) stream=\(facts.stream) model=\(facts.model.text)\n"
            }
            for (i, p) in rules.bodyPaths.enumerated() {
                out += "body.\(p.joined(separator: ".")) = \(describe(facts.values[i]))\n"
            }
        }
        let (tk, sourceIndex) = Router.keyAndSource(rules, head, facts)
        let source = sourceIndex.map { rules.keySources[$0].description } ?? "none"
        out +=
            "targetingKey = \(describe(tk)) (from \(source); chain: \(rules.keySources.map(\.description).joined(separator: " -> ")))\n"
        let pathBytes = Router.pathOf(head)
        let model = rules.needsFacts ? facts.model : .null
        var governing: Int?
        for (i, f) in rules.flags.enumerated() {
            // The decision is the router's own; the text only says why.
            var why = "matches"
            if !f.match.matches(path: pathBytes, model: model) {
                if let p = f.match.pathPrefix, !pathBytes.starts(with: p.utf8) {
                    why = "path does not start with \(p)"
                } else {
                    why = "body model \(describe(model)) is not one of \(f.match.models ?? [])"
                }
            }
            out +=
                "flag \(f.key): \(why)\(governing != nil && why == "matches" ? " (an earlier flag already governs)" : "")\n"
            if why == "matches" && governing == nil { governing = i }
        }
        guard let fi = governing else {
            out += "decision: no flag governs this request -> upstream \(rules.upstreams[rules.defaultUpstream].name)\n"
            return out
        }
        var trace: Trace? = Trace()
        let d = RequestContext.with(
            head: head, facts: facts, bodyPaths: rules.bodyPaths, targetingKey: tk, path: pathBytes,
            bodyBytes: body.count
        ) { context in
            rules.evaluate(fi, context: context, trace: &trace)
        }
        for line in trace?.lines ?? [] { out += "  \(line)\n" }
        if let b = trace?.bucket { out += "  bucket: hash \(b.hash) -> \(b.bucket) of \(b.total)\n" }
        let flag = rules.flags[fi]
        let u = rules.upstreams[d.upstream]
        out +=
            "decision: flag \(flag.key) variant \(flag.variants[d.variant].name) (\(d.reason.rawValue)) -> upstream \(u.name) at \(u.address), modelVersion \(u.modelVersion)"
        if let m = u.model { out += ", model rewritten to \"\(m)\"" }
        return out + "\n"
    }

    static func describe(_ v: Value) -> String {
        switch v {
        case .null: return "null"
        case .string(let s): return "\"\(String(decoding: s, as: UTF8.self))\""
        default: return v.text
        }
    }
}
