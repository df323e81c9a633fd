import Records
import Synchronization

/// State every worker and the admin endpoint read: readiness and drain, plus all workers' metrics.
public final class SharedState: Sendable {
    public let workerMetrics: [Metrics]
    /// The rules in force and the reload status.
    let rules = RulesChannel()
    /// Flag decisions by flag, variant and reason, across workers and reloads.
    public let flagCounters = FlagCounters()
    /// Per flag × variant × role × segment statistics (computed with output records).
    public let segmentStats = SegmentStats()
    /// The output records writer's counters, when `--records-dir` is set.
    let recordStats = Mutex<RecordStats?>(nil)
    private let drainingFlag = Atomic<Bool>(false)

    public init(workers: Int) {
        workerMetrics = (0..<workers).map { _ in Metrics() }
    }

    private let drainStartedFlag = Atomic<Bool>(false)

    /// Shutdown was requested: readiness is false, responses close their connections.
    public var isDraining: Bool { drainingFlag.load(ordering: .acquiring) }
    /// The listeners close now (after `--shutdown-delay`).
    public var isDrainStarted: Bool { drainStartedFlag.load(ordering: .acquiring) }
    public func markDrainStarted() { drainStartedFlag.store(true, ordering: .releasing) }
    public func markDraining() { drainingFlag.store(true, ordering: .releasing) }
    public var isReady: Bool { !isDraining }
}
