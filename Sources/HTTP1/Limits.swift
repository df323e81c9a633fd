/// Parser limits. Defaults follow nginx/Envoy practice (see shared/reliability-cases.md).
public struct Limits: Sendable {
    /// Longest request line; longer is 414 (nginx: 8 KiB).
    public var maxRequestLine = 8 * 1024
    /// Largest header section including the request line; larger is 431.
    public var maxHead = 64 * 1024
    /// Most header fields; more is 431 (Envoy: 100).
    public var maxHeaders = 100
    /// Largest request body; larger is 413.
    public var maxBody = 8 * 1024 * 1024
    /// Largest chunk-extension run on one chunk line, against extension bombs.
    public var maxChunkExtension = 4 * 1024
    /// Largest trailer section (trailers are read and dropped, never used for framing).
    public var maxTrailers = 16 * 1024

    public init() {}
}
