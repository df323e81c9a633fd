import Glibc
import HTTP1
import Rules

/// What targeting sees for one request: its head, the scanned body and the targeting key, all
/// read in place (strings are slices of the request's own bytes).
struct RequestContext: EvaluationContext {
    let head: RequestHead
    let facts: BodyFacts
    let bodyPaths: [[String]]
    let targetingKey: Value
    let path: ArraySlice<UInt8>
    let bodyBytes: Int

    func bodyValue(pathIndex: Int, key: ContextKey) -> Value {
        pathIndex < facts.values.count ? facts.values[pathIndex] : .null
    }

    func lookup(_ key: ContextKey) -> Value {
        switch key {
        case .targetingKey: return targetingKey
        case .header(let name): return RequestContext.header(head, name)
        case .body(let p):
            if let i = bodyPaths.firstIndex(of: p), i < facts.values.count { return facts.values[i] }
            return .null
        case .fact(let f): return fact(f)
        case .timestamp: return .number(Double(time(nil)))
        case .flagKey: return .null  // supplied by the evaluator
        }
    }

    static func header(_ head: RequestHead, _ name: String) -> Value {
        var name = name
        guard let r = name.withUTF8({ head.valueRange(ofField: UnsafeRawBufferPointer($0)) }) else { return .null }
        return .string(head.bytes[r])
    }

    func fact(_ f: RequestFact) -> Value {
        switch f {
        case .method: return .string(head.bytes[head.method])
        case .path: return .string(path)
        case .bodyBytes: return .number(Double(bodyBytes))
        case .messageCount: return .number(Double(facts.messageCount))
        case .userTurns: return .number(Double(facts.userTurns))
        case .promptTokens: return .number(Double(facts.promptTokens))
        case .hasTools: return .bool(facts.hasTools)
        case .hasImages: return .bool(facts.hasImages)
        case .hasResponseFormat: return .bool(facts.hasResponseFormat)
        case .stream: return .bool(facts.stream)
        case .model: return facts.model
        case .bodyParsed: return .bool(facts.parsed)
        }
    }
}
