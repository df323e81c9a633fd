/// A name a targeting rule can read with `var`, resolved when the rules are compiled.
///
/// Every name is documented in the README ("The evaluation context"). Unknown names are a load
/// error with their location: a typo must not silently evaluate to null.
public enum ContextKey: Hashable, Sendable, CustomStringConvertible {
    /// The request's targeting key (from the file's `targetingKey` chain).
    case targetingKey
    /// `$flagd.flagKey`: the key of the flag being evaluated.
    case flagKey
    /// `$flagd.timestamp`: seconds since the epoch when evaluation started.
    case timestamp
    /// `headers.NAME` (NAME lowercase): the first value of that request header.
    case header(String)
    /// `body.a.b.0.c`: a JSON field of the request body (array elements by index).
    case body([String])
    /// `request.FACT`: facts derived from the request.
    case fact(RequestFact)

    public var description: String {
        switch self {
        case .targetingKey: return "targetingKey"
        case .flagKey: return "$flagd.flagKey"
        case .timestamp: return "$flagd.timestamp"
        case .header(let n): return "headers.\(n)"
        case .body(let p): return "body." + p.joined(separator: ".")
        case .fact(let f): return "request.\(f.rawValue)"
        }
    }

    /// Parses a `var` path; nil for an unknown name.
    public static func parse(_ path: String) -> ContextKey? {
        if path == "targetingKey" { return .targetingKey }
        if path == "$flagd.flagKey" { return .flagKey }
        if path == "$flagd.timestamp" { return .timestamp }
        if path.hasPrefix("headers.") {
            let name = String(path.dropFirst(8)).lowercased()
            return name.isEmpty ? nil : .header(name)
        }
        if path.hasPrefix("body.") {
            let parts = path.dropFirst(5).split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            return parts.contains(where: \.isEmpty) ? nil : .body(parts)
        }
        if path.hasPrefix("request."), let f = RequestFact(rawValue: String(path.dropFirst(8))) { return .fact(f) }
        return nil
    }
}

/// Facts derived from a request, computed by one scan of its body.
public enum RequestFact: String, CaseIterable, Sendable {
    /// Request method, e.g. "POST".
    case method
    /// Request path without the query, e.g. "/v1/chat/completions".
    case path
    /// Body size in bytes.
    case bodyBytes
    /// Number of entries in `messages`.
    case messageCount
    /// Messages with `"role": "user"`.
    case userTurns
    /// Approximate prompt tokens: bytes of all message `content` strings / 4, rounded up.
    case promptTokens
    /// `tools` (or legacy `functions`) is a non-empty array.
    case hasTools
    /// Some message content part has `"type": "image_url"` (or `input_image`).
    case hasImages
    /// `response_format` is present.
    case hasResponseFormat
    /// `"stream": true`.
    case stream
    /// The body's `"model"` string.
    case model
    /// Whether the body was parsed as JSON within the inspection limit.
    case bodyParsed
}
