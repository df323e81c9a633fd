/// What a server connection asks of whoever produces responses (the proxy, the admin endpoints, the
/// stand-in model). One handler object per connection, on the connection's loop.
public protocol ConnectionHandler: AnyObject {
    /// A complete request (head and buffered body) is ready in `conn.request` / `conn.body`.
    /// The handler answers with `conn.writeHead` … `conn.endResponse()` (or `respondError`), now or later.
    func requestReady(_ conn: ServerConnection)
    /// The client drained its write queue below the high-water mark after `isWriteBlocked` was true.
    func connectionWritable(_ conn: ServerConnection)
    /// The connection is going away (client closed, reset, drain deadline). Stop producing for it.
    func connectionClosed(_ conn: ServerConnection)
}

/// Counts what happens on a server's connections (implemented by the metrics of the proxy).
public protocol ServerObserver: AnyObject {
    func connectionOpened()
    func connectionClosedCount()
    /// One exchange ended: its status (0 if none was sent), body bytes in and out, and duration.
    func exchangeFinished(status: Int, bytesIn: Int, bytesOut: Int, durationNs: UInt64)
}
