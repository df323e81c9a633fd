import Glibc
import HTTP1
import Rules

/// What targeting sees for one request: its head, the scanned body and the targeting key, all
/// read in place (strings are slices of the request's own bytes).
///
/// It borrows the head and the facts by address, for the duration of `RequestContext.with`:
/// copying them into the context retained and released five buffers per request, for values
/// the caller holds anyway.
struct RequestContext: EvaluationContext {
    private let headAddress: UnsafePointer<RequestHead>
    private let factsAddress: UnsafePointer<BodyFacts>
    let bodyPaths: [[String]]
    let targetingKey: Value
    let path: ArraySlice<UInt8>
    let bodyBytes: Int

    /// Runs `body` with the context of a request (the context must not outlive the call).
    static func with<R>(
        head: borrowing RequestHead, facts: borrowing BodyFacts, bodyPaths: [[String]], targetingKey: Value,
        path: ArraySlice<UInt8>, bodyBytes: Int, _ body: (RequestContext) -> R
    ) -> R {
        withUnsafePointer(to: head) { h in
            withUnsafePointer(to: facts) { f in
                body(
                    RequestContext(
                        headAddress: h, factsAddress: f, bodyPaths: bodyPaths, targetingKey: targetingKey, path: path,
                        bodyBytes: bodyBytes))
            }
        }
    }

    func bodyValue(pathIndex: Int, key: ContextKey) -> Value {
        pathIndex < factsAddress.pointee.values.count ? factsAddress.pointee.values[pathIndex] : .null
    }

    func lookup(_ key: ContextKey) -> Value {
        switch key {
        case .targetingKey: return targetingKey
        case .header(let name): return RequestContext.header(headAddress.pointee, name)
        case .body(let p):
            if let i = bodyPaths.firstIndex(of: p), i < factsAddress.pointee.values.count {
                return factsAddress.pointee.values[i]
            }
            return .null
        case .fact(let f): return fact(f)
        case .timestamp: return .number(Double(time(nil)))
        case .flagKey: return .null  // supplied by the evaluator
        }
    }

    static func header(_ head: RequestHead, _ name: String) -> Value {
        // The rules' names are native strings: their bytes are read in place (no copy of `name`).
        let found =
            name.utf8.withContiguousStorageIfAvailable { head.valueRange(ofField: UnsafeRawBufferPointer($0)) }
            ?? Array(name.utf8).withUnsafeBytes { head.valueRange(ofField: $0) }
        guard let r = found else { return .null }
        return .string(head.bytes[r])
    }

    func fact(_ f: RequestFact) -> Value {
        switch f {
        case .method: return .string(headAddress.pointee.bytes[headAddress.pointee.method])
        case .path: return .string(path)
        case .bodyBytes: return .number(Double(bodyBytes))
        case .messageCount: return .number(Double(factsAddress.pointee.messageCount))
        case .userTurns: return .number(Double(factsAddress.pointee.userTurns))
        case .promptTokens: return .number(Double(factsAddress.pointee.promptTokens))
        case .hasTools: return .bool(factsAddress.pointee.hasTools)
        case .hasImages: return .bool(factsAddress.pointee.hasImages)
        case .hasResponseFormat: return .bool(factsAddress.pointee.hasResponseFormat)
        case .stream: return .bool(factsAddress.pointee.stream)
        case .model: return factsAddress.pointee.model
        case .bodyParsed: return .bool(factsAddress.pointee.parsed)
        }
    }
}
