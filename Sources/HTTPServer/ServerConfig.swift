import HTTP1

/// Downstream (client-facing) settings. Defaults are documented in the README's flag table.
public struct ServerConfig: Sendable {
    public var limits = Limits()
    /// The whole header section must arrive within this time from its first byte (and from accept
    /// for a new connection): slowloris protection. 408 when it expires.
    public var headerTimeoutMs: UInt64 = 10_000
    /// Longest pause between two reads of a request body. 408 when it expires.
    public var bodyTimeoutMs: UInt64 = 30_000
    /// An idle keep-alive connection is closed after this time.
    public var keepAliveTimeoutMs: UInt64 = 75_000
    /// Bytes queued for a slow client before the producer is paused (backpressure).
    public var writeHighWater = 256 * 1024
    /// Pipelined bytes buffered while a request is in progress before we stop reading the client.
    public var pipelineBuffer = 64 * 1024
    /// Most concurrent client connections per worker; more are answered 503 and closed.
    public var maxConnections = 4096
    /// After answering an error and sending FIN, how long unread client bytes are drained so the
    /// kernel does not turn our close into a reset that destroys the response (lingering close).
    public var lingerMs: UInt64 = 2_000

    public init() {}
}
