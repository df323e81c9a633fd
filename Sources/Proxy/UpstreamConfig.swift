import HTTP1
import UVCore

/// How the proxy talks to its model server. Defaults are in the README's flag table.
public struct UpstreamConfig: Sendable {
    public var address: SocketAddress
    /// TCP connect must finish within this time, else 504 `upstream_connect_timeout`.
    public var connectTimeoutMs: UInt64 = 5_000
    /// The response head must arrive within this time after the request was sent, else 504.
    /// Model servers may think for a long time before the first byte: generous by default.
    public var headerTimeoutMs: UInt64 = 300_000
    /// Longest silence between two reads of a response body (e.g. between SSE events).
    public var idleTimeoutMs: UInt64 = 300_000
    /// Idle kept-alive connections kept per worker.
    public var maxIdle = 64
    /// An idle pooled connection is closed after this time.
    public var poolIdleTimeoutMs: UInt64 = 60_000
    public var limits = Limits()

    public init(address: SocketAddress) { self.address = address }
}
