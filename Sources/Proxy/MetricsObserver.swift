import HTTPServer

/// Feeds a worker's `Metrics` from its server's connection events.
final class MetricsObserver: ServerObserver {
    let metrics: Metrics
    init(_ metrics: Metrics) { self.metrics = metrics }

    func connectionOpened() { metrics.clientConnectionsOpened.add() }
    func connectionClosedCount() { metrics.clientConnectionsClosed.add() }

    func exchangeFinished(status: Int, bytesIn: Int, bytesOut: Int, durationNs: UInt64) {
        metrics.requestsByClass[status >= 100 && status < 600 ? status / 100 : 0].add()
        metrics.bytesIn.add(bytesIn)
        metrics.bytesOut.add(bytesOut)
        metrics.observeDuration(durationNs)
    }
}
