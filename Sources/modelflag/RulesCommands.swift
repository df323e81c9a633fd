import ArgumentParser
import Glibc
import Proxy
import Rules
import UVCore

/// Reads and compiles a rules file for the CLI, printing every error with its location.
func loadRules(_ path: String) throws -> RuleSet {
    guard let bytes = readWholeFile(path) else {
        throw ValidationError("cannot read rules file '\(path)'")
    }
    do {
        let rules = try RulesLoader.load(bytes)
        for u in rules.upstreams where (try? SocketAddress(u.address)) == nil {
            throw ValidationError("\(path): upstream '\(u.name)': cannot resolve address '\(u.address)'")
        }
        return rules
    } catch let failure as RulesLoader.Failure {
        var text = ""
        for e in failure.errors { text += "\(path):\(e.line):\(e.column): \(e.path): \(e.message)\n" }
        printError(text)
        throw ExitCode(1)
    }
}

func printError(_ text: String) {
    var t = text
    t.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a rules file and print a summary (exit 0), or every error with its location (exit 1).")

    @Argument(help: "The rules file.")
    var file: String

    func run() throws {
        let rules = try loadRules(file)
        var out = "\(file): OK, revision \(rules.revision)\n"
        out += "upstreams:\n"
        for (i, u) in rules.upstreams.enumerated() {
            out +=
                "  \(u.name)\(i == rules.defaultUpstream ? " (default)" : ""): \(u.address), modelVersion \(u.modelVersion)\(u.model.map { ", rewrites model to \"\($0)\"" } ?? "")\n"
        }
        out += "targeting key: \(rules.keySources.map(\.description).joined(separator: " -> "))\n"
        if !rules.segmentNames.isEmpty {
            out += "segments ($evaluators): \(rules.segmentNames.joined(separator: ", "))\n"
        }
        out += "flags:\n"
        for f in rules.flags {
            var match: [String] = []
            if let p = f.match.pathPrefix { match.append("path \(p)*") }
            if let m = f.match.models { match.append("model in \(m)") }
            out +=
                "  \(f.key): \(f.enabled ? "ENABLED" : "DISABLED (kill switch)"), default \(f.variants[f.defaultVariant].name)"
            out += match.isEmpty ? ", governs every request\n" : ", governs \(match.joined(separator: " and "))\n"
            for v in f.variants { out += "    \(v.name) -> \(rules.upstreams[v.upstream].name)\n" }
            if let t = f.targeting { out += "    targeting: \(summary(t))\n" }
            out += settings(f, rules)
        }
        if !rules.bodyPaths.isEmpty {
            out +=
                "body paths read: \(rules.bodyPaths.map { "body." + $0.joined(separator: ".") }.joined(separator: ", "))\n"
        }
        print(out, terminator: "")
    }

    /// The flag's shadow, records, gates, rollout and tripwires, one line each when set.
    func settings(_ f: Rules.Flag, _ rules: RuleSet) -> String {
        var out = ""
        let name = { (i: Int) in f.variants[i].name }
        for (i, gate) in f.gates.enumerated() {
            guard let gate else { continue }
            out +=
                "    confidence gate: \(name(i)) served at confidence >= \(num(gate.threshold)), else \(name(gate.fallback)) (\(gate.mode.rawValue))\n"
        }
        if let s = f.shadow {
            let sample = s.percentage >= 100 ? "100 %" : "\(num(s.percentage)) % (\(s.sampleBy.rawValue))"
            out +=
                "    shadow: \(s.variants.map(name).joined(separator: ", ")) at \(sample), leaves at \(s.start.rawValue), maxInFlight \(s.maxInFlight), timeout \(s.timeoutMs) ms, \(s.compare ? "scored" : "not scored")"
            out += s.noiseFloor > 0 ? ", noise floor \(num(s.noiseFloor)) %\n" : "\n"
        }
        let c = f.capture
        out += "    records: capture \(c.mode.rawValue)"
        if c.mode == .full { out += ", up to \(c.maxBodyBytes) bytes per body" }
        if !c.redact.isEmpty { out += ", redact \(c.redact.map { $0.joined(separator: ".") }.joined(separator: ", "))" }
        out += "\n"
        if let e = f.evaluator {
            out +=
                "    evaluator: http://\(e.address)\(e.path), sample \(num(e.sampleRate)), timeout \(e.timeoutMs) ms\n"
        }
        if let r = f.rollout {
            let stage = r.stage < 0 ? "rolled back" : "stage \(r.stage + 1) of \(r.stages.count)"
            out += "    rollout: \(name(r.variant)), \(stage)\n"
        }
        if !f.promotionGates.isEmpty {
            out += "    promotion gates: \(f.promotionGates.map(\.label).joined(separator: ", "))\n"
        }
        for w in f.tripwires {
            out +=
                "    rollback: \(name(w.variant)) when \(w.metric.rawValue) > \(num(w.above)) over \(w.windowSeconds) s (at least \(w.minSamples) requests)\n"
        }
        return out
    }

    /// A number as the file would say it (no trailing `.0`).
    func num(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d) }

    func summary(_ e: Expr) -> String {
        var splits: [String] = []
        var segments: [String] = []
        func walk(_ e: Expr) {
            switch e {
            case .fractional(_, let buckets):
                let parts = buckets.map { b -> String in
                    let name: String
                    if case .literal(let v) = b.variant { name = v.text } else { name = "(expr)" }
                    let weight: String
                    if case .literal(let w) = b.weight { weight = w.text } else { weight = "(expr)" }
                    return "\(name) \(weight)"
                }
                splits.append("split [" + parts.joined(separator: ", ") + "]")
                for b in buckets { walk(b.variant) }
            case .segment(let name, let inner):
                if !segments.contains(name) { segments.append(name) }
                walk(inner)
            case .ifChain(let parts), .and(let parts), .or(let parts), .cat(let parts), .compare(_, let parts):
                parts.forEach(walk)
            case .not(let x), .truthy(let x): walk(x)
            case .contains(let a, let b), .startsWith(let a, let b), .endsWith(let a, let b), .semver(let a, _, let b):
                walk(a)
                walk(b)
            case .variable(_, let f): if let f { walk(f) }
            case .literal: break
            }
        }
        walk(e)
        var parts: [String] = []
        if !segments.isEmpty { parts.append("uses segments " + segments.joined(separator: ", ")) }
        parts.append(contentsOf: splits)
        return parts.isEmpty ? "rules without splits" : parts.joined(separator: "; ")
    }
}

struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show which flag governs a request, each predicate's value, the bucket, and the chosen variant.")

    @Option(help: "The rules file.")
    var rules: String

    @Option(help: "A file with the request body (JSON).")
    var request: String?

    @Option(name: [.customShort("H"), .long], help: "A request header, 'Name: value' (repeatable).")
    var header: [String] = []

    @Option(help: "Request path.")
    var path = "/v1/chat/completions"

    @Option(help: "Request method.")
    var method = "POST"

    func run() throws {
        let set = try loadRules(rules)
        var body: [UInt8] = []
        if let request {
            guard let b = readWholeFile(request) else { throw ValidationError("cannot read request file '\(request)'") }
            body = b
        }
        var headers: [(String, String)] = []
        for h in header {
            guard let colon = h.firstIndex(of: ":") else { throw ValidationError("-H takes 'Name: value', got '\(h)'") }
            headers.append((String(h[..<colon]), String(h[h.index(after: colon)...]).trimmingCharacters(in: " ")))
        }
        print(Explain.run(rules: set, method: method, path: path, headers: headers, body: body), terminator: "")
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
