/// A gated variant: the request goes to the variant's upstream, and its answer is served only if
/// the model's confidence in it reaches `threshold`; otherwise (or when the candidate fails) the
/// same request goes to `fallback` and that answer is served.
///
/// Written as a variant whose value is an object, which flagd allows for variant values:
/// `"candidate-gated": {"upstream": "candidate", "confidence": {"threshold": 0.8, "fallback": "stable",
/// "from": "header:x-model-confidence"}}`.
public struct ConfidenceGate: Sendable {
    public enum Source: Sendable, Equatable {
        /// A response header holding a number (name lowercase).
        case header(String)
        /// A number at this JSON path of the response body (for SSE, the last event that has it).
        case json([String])
        /// exp(mean token logprob) over every `"logprob"` in the response (OpenAI `logprobs`).
        case logprobs
    }

    /// When a streamed (SSE) answer is judged. A JSON answer is always judged whole.
    public enum Mode: String, Sendable {
        /// Hold the whole answer, then decide: the client's first byte waits for the candidate's
        /// last one.
        case buffer
        /// Decide on the first `data:` event; a passing stream then flows through as it comes.
        /// The client's first byte waits for the candidate's first event.
        case firstEvent = "first-event"
    }

    public var threshold: Double
    /// Index into the flag's variants.
    public var fallback: Int
    public var source: Source
    /// The candidate's answer is held in memory until confidence is known; a larger one is not
    /// gated: it falls back (documented cost: the whole answer's time to first byte).
    public var maxBufferBytes: Int
    public var mode: Mode = .buffer

    public static let defaultMaxBufferBytes = 1 << 20

    /// `header:NAME`, `json:a.b`, or `logprobs`.
    public static func source(_ text: String) -> Source? {
        if text == "logprobs" { return .logprobs }
        if text.hasPrefix("header:") {
            let name = text.dropFirst(7).lowercased()
            return name.isEmpty ? nil : .header(name)
        }
        if text.hasPrefix("json:") {
            let parts = text.dropFirst(5).split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            return parts.isEmpty || parts.contains(where: \.isEmpty) ? nil : .json(parts)
        }
        return nil
    }
}
