import Synchronization

/// State every worker and the admin endpoint read: readiness and drain, plus all workers' metrics.
public final class SharedState: Sendable {
    public let workerMetrics: [Metrics]
    private let drainingFlag = Atomic<Bool>(false)

    public init(workers: Int) {
        workerMetrics = (0..<workers).map { _ in Metrics() }
    }

    public var isDraining: Bool { drainingFlag.load(ordering: .acquiring) }
    public func markDraining() { drainingFlag.store(true, ordering: .releasing) }
    public var isReady: Bool { !isDraining }
}
