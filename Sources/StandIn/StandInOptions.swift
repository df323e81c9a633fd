/// Settings of a stand-in model server.
public struct StandInOptions: Sendable {
    /// The model name it reports (`"model"` in responses, `/v1/models`).
    public var model = "stand-in"
    /// Delay before the response head, in milliseconds.
    public var latencyMs: UInt64 = 0
    /// Fraction of chat requests answered with a 500 error (0…1).
    public var errorRate = 0.0
    /// Confidence reported in the `X-Model-Confidence` header and the `"confidence"` field.
    public var confidence = 0.9
    /// SSE: number of content events per stream (plus a final event and `[DONE]`).
    public var streamEvents = 8
    /// SSE: pause between events, in milliseconds.
    public var streamIntervalMs: UInt64 = 20
    /// Answer worse for some requests: when the body contains one of these byte strings, that
    /// share (0…1) of the answer's words is replaced and the reported confidence scaled down by
    /// it (the first pattern found applies). Lets tests and the demo play a candidate that
    /// regresses on one segment only, or a stable model with a baseline of mistakes.
    public var degrade: [(pattern: [UInt8], share: Double)] = []
    /// Answer with the words this model name would (default: its own): a candidate that differs
    /// from stable only where `degrade` changes it.
    public var wordsOf: String?
    /// Honour the `X-StandIn-Fault` request header (tests only: resets, malformed responses, hangs).
    public var faults = false

    public init() {}
}
