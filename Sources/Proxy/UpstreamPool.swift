import UVCore

/// Kept-alive connections to one upstream, per loop.
///
/// Idle connections are reused last-in first-out (the warmest socket, and the oldest ones age out
/// by the idle timer). At most `maxIdle` are kept; more are closed when released. Busy connections
/// are not capped here: there is at most one per client exchange in flight, and client connections
/// are capped by `--max-connections`.
public final class UpstreamPool {
    public let loop: Loop
    public let config: UpstreamConfig
    let metrics: Metrics
    private var idle: [UpstreamConnection] = []

    public init(loop: Loop, config: UpstreamConfig, metrics: Metrics) {
        self.loop = loop
        self.config = config
        self.metrics = metrics
    }

    public var idleCount: Int { idle.count }

    /// A kept-alive connection when one is idle, else a new one (connecting).
    func acquire(fresh: Bool = false) throws(UVError) -> UpstreamConnection {
        if !fresh, let conn = idle.popLast() {
            metrics.poolReuses.add()
            return conn
        }
        let conn = try UpstreamConnection(pool: self)
        metrics.upstreamConnectionsOpened.add()
        return conn
    }

    func release(_ conn: UpstreamConnection) {
        if idle.count >= config.maxIdle {
            conn.close()
            return
        }
        conn.parkIdle()
        idle.append(conn)
    }

    func connectionClosed(_ conn: UpstreamConnection, wasIdle: Bool) {
        metrics.upstreamConnectionsClosed.add()
        if wasIdle, let i = idle.firstIndex(where: { $0 === conn }) {
            idle.remove(at: i)
        }
    }

    /// Closes every idle connection (shutdown).
    public func closeIdle() {
        for conn in idle { conn.close() }
        idle.removeAll()
    }
}
