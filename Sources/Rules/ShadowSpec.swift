/// How a flag mirrors traffic to candidate variants (`"shadow"` in the rules file).
///
/// The served variant is decided as usual; each listed shadow variant other than the served one
/// gets a copy of the request whose response is recorded and never reaches the client.
public struct ShadowSpec: Sendable {
    /// How a request is picked for mirroring when `percentage` is below 100.
    public enum SampleBy: String, Sendable {
        /// Sticky: the same targeting key is always in or always out (MurmurHash3 of
        /// `shadow/` + flag key + key, so it is independent of the flag's own `fractional` split).
        /// Requests without a key are sampled at random.
        case targetingKey
        /// Every request independently.
        case random
    }

    /// When a copy leaves for the shadow.
    public enum Start: String, Sendable {
        /// Once the served answer's first body byte has arrived (or the served exchange ended
        /// without one): the shadow never runs while the client waits for its first token, so a
        /// candidate sharing CPU or GPU with the primary cannot delay it. The default.
        case firstByte = "first-byte"
        /// With the served request, after the loop iteration's I/O: both answers are produced at
        /// the same time (for candidates on hardware of their own).
        case request
    }

    /// Indices into the flag's variants.
    public var variants: [Int]
    /// 0…100.
    public var percentage: Double
    public var sampleBy: SampleBy
    /// Shadow calls in flight per worker for this flag; a copy beyond it is dropped and counted.
    public var maxInFlight: Int
    /// From sending the copy to the last byte of the shadow's answer (a long SSE stream is cut here).
    public var timeoutMs: UInt64
    /// Requests with a larger body are not mirrored (dropped and counted).
    public var maxBodyBytes: Int
    /// Noise floor: this share (0…100, random) of requests also get a copy sent to the served
    /// variant itself, so each comparator has a stable-vs-stable baseline (Diffy's idea). Those
    /// shadow records carry the served variant's name.
    public var noiseFloor: Double = 0
    /// Score each shadow answer against the served one (the built-in comparators, the evaluator
    /// hook and the score statistics). Off, the flag only mirrors and records: the served answer
    /// is not assembled and no pair waits for its twin.
    public var compare = true
    public var start: Start = .firstByte

    public static let defaultMaxInFlight = 100
    public static let defaultTimeoutMs: UInt64 = 10_000
    public static let defaultMaxBodyBytes = 1024 * 1024

    public init(
        variants: [Int], percentage: Double = 100, sampleBy: SampleBy = .targetingKey,
        maxInFlight: Int = ShadowSpec.defaultMaxInFlight, timeoutMs: UInt64 = ShadowSpec.defaultTimeoutMs,
        maxBodyBytes: Int = ShadowSpec.defaultMaxBodyBytes
    ) {
        self.variants = variants
        self.percentage = percentage
        self.sampleBy = sampleBy
        self.maxInFlight = maxInFlight
        self.timeoutMs = timeoutMs
        self.maxBodyBytes = maxBodyBytes
    }
}

/// What output records keep of request and response bodies (`"records"` in a flag).
///
/// The default stores no body: only sizes, status and timings. Bodies hold user data, so keeping
/// them is an explicit choice in the rules file.
public struct CaptureSpec: Sendable {
    public enum Mode: String, Sendable {
        /// No body content (sizes only).
        case none
        /// SHA-256 of each body (and of the assembled answer text), never the content.
        case hash
        /// The bodies as JSON strings, each cut at `maxBodyBytes`, with `redact` fields replaced by hashes.
        case full
    }

    public var mode: Mode
    /// Largest captured body in the record, in bytes of the record (after JSON escaping).
    public var maxBodyBytes: Int
    /// JSON field paths of the request body (`user`, `messages.content`; array elements are walked
    /// through) whose values are stored as `"sha256:<hex>"` in `full` mode.
    public var redact: [[String]]

    public static let defaultMaxBodyBytes = 8 * 1024

    public init(mode: Mode = .none, maxBodyBytes: Int = CaptureSpec.defaultMaxBodyBytes, redact: [[String]] = []) {
        self.mode = mode
        self.maxBodyBytes = maxBodyBytes
        self.redact = redact
    }
}
