import Glibc
import Proxy
import Rules

/// Benchmark (not a test): time to route one request with a 50-rule file, including the scan of
/// the 1.5 KB benchmark chat request. Usage: `RulesBench [chat_request.json [rules.json]]`
/// (without a rules file it generates the 50-rule one).
@main
struct RulesBench {
    /// A flag whose `if` chain has 49 segment conditions the request does not meet, then a 10 %
    /// split: the request walks every rule (the worst case), reading headers, body fields and facts.
    static func fiftyRules() -> String {
        var evaluators: [String] = []
        var chain: [String] = []
        for i in 0..<49 {
            let cond: String
            switch i % 7 {
            case 0: cond = #"{"==": [{"var": "body.metadata.tier"}, "tier-\#(i)"]}"#
            case 1: cond = #"{"in": ["needle-\#(i)", {"var": "body.user"}]}"#
            case 2: cond = #"{">": [{"var": "request.promptTokens"}, \#(100_000 + i)]}"#
            case 3: cond = #"{"==": [{"var": "headers.x-tenant"}, "tenant-\#(i)"]}"#
            case 4: cond = #"{"and": [{"var": "request.hasTools"}, {">": [{"var": "request.userTurns"}, \#(i)]}]}"#
            case 5: cond = #"{"starts_with": [{"var": "body.model"}, "legacy-\#(i)"]}"#
            default: cond = #"{"sem_ver": [{"var": "headers.x-client-version"}, "<", "0.0.\#(i)"]}"#
            }
            evaluators.append("\"seg\(i)\": \(cond)")
            chain.append(#"{"$ref": "seg\#(i)"}, "\#(i % 2 == 0 ? "stable" : "candidate")""#)
        }
        chain.append(#"{"fractional": [["candidate", 10], ["stable", 90]]}"#)
        return """
            {
              "upstreams": {
                "stable": {"address": "127.0.0.1:18080", "modelVersion": "v1"},
                "candidate": {"address": "127.0.0.1:18081", "modelVersion": "v2"}
              },
              "defaultUpstream": "stable",
              "$evaluators": {\(evaluators.joined(separator: ",\n"))},
              "flags": {"chat-model": {"state": "ENABLED", "match": {"pathPrefix": "/v1/chat/completions"},
                "variants": {"stable": "stable", "candidate": "candidate"}, "defaultVariant": "stable",
                "targeting": {"if": [\(chain.joined(separator: ", "))]}}}
            }
            """
    }

    static func main() {
        let path = CommandLine.arguments.dropFirst().first ?? "../shared/bench/chat_request.json"
        guard var body = readWholeFile(path) else {
            print("cannot read \(path)")
            exit(1)
        }
        while let last = body.last, last == 0x0A || last == 0x20 { body.removeLast() }
        let rulesFile = CommandLine.arguments.dropFirst(2).first
        let rulesText = rulesFile.flatMap { readWholeFile($0) } ?? Array(fiftyRules().utf8)
        let rules: RuleSet
        do {
            rules = try RulesLoader.load(rulesText)
        } catch {
            print("rules: \(error)")
            exit(1)
        }
        let head = Array(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nAccept: application/json\r\nX-User-Id: user-0042\r\nContent-Length: \(body.count)\r\n\r\n"
                .utf8)
        _ = RoutingBench.run(rules: rules, head: head, body: body, iterations: 20_000)  // warm up
        var results: [Double] = []
        var variant = ""
        for _ in 0..<5 {
            let r = RoutingBench.run(rules: rules, head: head, body: body, iterations: 100_000)
            results.append(r.nsPerOp)
            variant = r.variant
        }
        results.sort()
        let scanOnly = BodyScanner(paths: rules.bodyPaths, facts: rules.needsFacts)
        let t0 = clockNs()
        var n = 0
        for _ in 0..<100_000 { n &+= scanOnly.scan(body, limit: 1 << 20).messageCount }
        let scanNs = Double(clockNs() - t0) / 100_000
        print(
            "rules: \(rulesFile ?? "50 (49 segment conditions + a 10 % split)"), body \(body.count) bytes, last variant \(variant) (\(n) messages scanned)"
        )
        print(
            "route (scan + context + decision): median \(Int(results[2])) ns, min \(Int(results[0])) ns, max \(Int(results[4])) ns per request (5 runs of 100k)"
        )
        print("body scan alone: \(Int(scanNs)) ns per request")
    }

    static func clockNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
