/// An external evaluator for shadow pairs (`evaluator` in a flag): a sampled share of the pairs
/// is POSTed to it as `{"request_id", "flag", "segments", "request", "served", "shadow"}` and it
/// answers `{"scores": {"name": number, ...}}` (an LLM judge or a task checker runs there). The
/// shadow record waits for the answer, up to `timeoutMs`, and carries it; at most `maxInFlight`
/// calls per worker, more are skipped and counted. Failures are counted and touch no traffic.
public struct EvaluatorSpec: Sendable {
    /// `HOST:PORT` of the evaluator.
    public var address: String
    /// Request path, from the URL (default `/`).
    public var path: String
    /// Share of scored pairs sent (0…1).
    public var sampleRate: Double
    public var timeoutMs: UInt64
    public var maxInFlight: Int

    /// Parses `http://HOST:PORT/path`; nil for anything else (no TLS: run it beside the sidecar).
    public static func parseURL(_ url: String) -> (address: String, path: String)? {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst(7)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let host = String(rest[..<slash])
        let path = slash == rest.endIndex ? "/" : String(rest[slash...])
        guard Validator.isHostPort(host) else { return nil }
        return (host, path)
    }
}
