import Records
import Synchronization

/// One relaxed atomic counter (a class so that it can live in arrays).
public final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    public init() {}
    @inline(__always) public func add(_ n: Int = 1) { value.add(n, ordering: .relaxed) }
    public var load: Int { value.load(ordering: .relaxed) }
}

/// Why an upstream exchange failed; decides the status (502 vs 504) and the metric label.
public enum UpstreamErrorKind: Int, CaseIterable, Sendable {
    case connectRefused, connectTimeout, reset, badResponse, headerTimeout, idleTimeout

    public var label: String {
        switch self {
        case .connectRefused: return "connect_error"
        case .connectTimeout: return "connect_timeout"
        case .reset: return "reset"
        case .badResponse: return "bad_response"
        case .headerTimeout: return "header_timeout"
        case .idleTimeout: return "idle_timeout"
        }
    }
}

/// Counters of one worker. Each worker writes only its own instance (no contention); the admin
/// endpoint sums all workers when Prometheus scrapes.
public final class Metrics: Sendable {
    /// Requests by status class: index 0 = no status (aborted), 1…5 = 1xx…5xx.
    public let requestsByClass = (0..<6).map { _ in Counter() }
    public let upstreamErrors = UpstreamErrorKind.allCases.map { _ in Counter() }
    public let clientConnectionsOpened = Counter()
    public let clientConnectionsClosed = Counter()
    public let upstreamConnectionsOpened = Counter()
    public let upstreamConnectionsClosed = Counter()
    public let poolReuses = Counter()
    public let retries = Counter()
    public let clientCancelled = Counter()
    /// Request bodies the rules could not inspect: [0] not JSON, [1] over the inspection limit.
    public let bodyUninspected = [Counter(), Counter()]
    /// External evaluator calls: [0] answered, [1] failed (timeout, unreachable, bad response),
    /// [2] skipped at the in-flight cap.
    public let evaluatorCalls = [Counter(), Counter(), Counter()]
    /// Confidence-gated attempts: [0] served the candidate, [1] fell back.
    public let gateDecisions = [Counter(), Counter()]
    /// Rollback tripwires that tripped on this worker.
    public let rollbacksTripped = Counter()
    /// Shadow copies sent.
    public let shadowSent = Counter()
    /// Shadow copies not sent: [0] in-flight cap, [1] body over the shadow's maxBodyBytes.
    public let shadowDropped = [Counter(), Counter()]
    /// Shadow calls ended: [0] ok, [1] upstream_error, [2] timeout, [3] incomplete.
    public let shadowOutcomes = (0..<4).map { _ in Counter() }
    /// Bytes held by idle pooled shadow exchanges (a gauge: added when one is pooled, taken off
    /// when it is reused).
    public let shadowPooledBytes = Counter()
    public let bytesIn = Counter()
    public let bytesOut = Counter()
    /// Request duration histogram: upper bounds in seconds (+Inf last), counts not cumulative.
    public static let durationBounds: [Double] = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
    ]
    /// The bounds in nanoseconds, per instance: a lazily initialized global would be read by every
    /// worker thread on its first request (ThreadSanitizer flags the runtime's once-initialization).
    let durationBoundsNs: [UInt64] = Metrics.durationBounds.map { UInt64($0 * 1e9) }
    public let durationBuckets = (0...15).map { _ in Counter() }
    public let durationSumMicros = Counter()

    public init() {}

    @inline(__always)
    public func observeDuration(_ ns: UInt64) {
        var i = 0
        let bounds = durationBoundsNs
        while i < bounds.count && ns > bounds[i] { i += 1 }
        durationBuckets[i].add()
        durationSumMicros.add(Int(ns / 1000))
    }
}

/// Renders the Prometheus text exposition format (version 0.0.4) over all workers' metrics.
public enum PrometheusText {
    /// The output records writer: written, dropped (and why), rotations, repaired bytes.
    static func records(_ s: RecordStats) -> String {
        var out = "# HELP modelflag_records_written_total Output records written to disk.\n"
        out += "# TYPE modelflag_records_written_total counter\n"
        out += "modelflag_records_written_total \(s.written)\n"
        out +=
            "# HELP modelflag_records_dropped_total Output records lost: queue full (disk or writer too slow) or write error (ENOSPC, EIO).\n"
        out += "# TYPE modelflag_records_dropped_total counter\n"
        out += "modelflag_records_dropped_total{reason=\"queue_full\"} \(s.droppedQueueFull)\n"
        out += "modelflag_records_dropped_total{reason=\"write_error\"} \(s.droppedIO)\n"
        out += "# HELP modelflag_records_rotations_total Records files rotated.\n"
        out += "# TYPE modelflag_records_rotations_total counter\n"
        out += "modelflag_records_rotations_total \(s.rotations)\n"
        out += "# HELP modelflag_records_torn_bytes_repaired Bytes of a torn last line moved aside at start.\n"
        out += "# TYPE modelflag_records_torn_bytes_repaired gauge\n"
        out += "modelflag_records_torn_bytes_repaired \(s.tornBytes)\n"
        return out
    }

    public static func render(_ all: [Metrics], draining: Bool, ready: Bool) -> String {
        func sum(_ f: (Metrics) -> Counter) -> Int { all.reduce(0) { $0 + f($1).load } }
        var out = ""
        out.reserveCapacity(4096)
        out +=
            "# HELP modelflag_requests_total Client requests answered, by status class (none = aborted before a status).\n"
        out += "# TYPE modelflag_requests_total counter\n"
        for (i, label) in ["none", "1xx", "2xx", "3xx", "4xx", "5xx"].enumerated() {
            out += "modelflag_requests_total{class=\"\(label)\"} \(sum { $0.requestsByClass[i] })\n"
        }
        out += "# HELP modelflag_upstream_errors_total Upstream failures by kind.\n"
        out += "# TYPE modelflag_upstream_errors_total counter\n"
        for kind in UpstreamErrorKind.allCases {
            out +=
                "modelflag_upstream_errors_total{kind=\"\(kind.label)\"} \(sum { $0.upstreamErrors[kind.rawValue] })\n"
        }
        out += "# HELP modelflag_client_connections_active Open client connections.\n"
        out += "# TYPE modelflag_client_connections_active gauge\n"
        out +=
            "modelflag_client_connections_active \(sum { $0.clientConnectionsOpened } - sum { $0.clientConnectionsClosed })\n"
        out += "# HELP modelflag_upstream_connections_active Open upstream connections (busy and idle).\n"
        out += "# TYPE modelflag_upstream_connections_active gauge\n"
        out +=
            "modelflag_upstream_connections_active \(sum { $0.upstreamConnectionsOpened } - sum { $0.upstreamConnectionsClosed })\n"
        out += "# HELP modelflag_upstream_connects_total Upstream connections opened.\n"
        out += "# TYPE modelflag_upstream_connects_total counter\n"
        out += "modelflag_upstream_connects_total \(sum { $0.upstreamConnectionsOpened })\n"
        out += "# HELP modelflag_pool_reuse_total Requests sent on a kept-alive upstream connection.\n"
        out += "# TYPE modelflag_pool_reuse_total counter\n"
        out += "modelflag_pool_reuse_total \(sum { $0.poolReuses })\n"
        out +=
            "# HELP modelflag_upstream_retries_total Requests retried on a fresh connection after a reused one failed before any byte was written.\n"
        out += "# TYPE modelflag_upstream_retries_total counter\n"
        out += "modelflag_upstream_retries_total \(sum { $0.retries })\n"
        out += "# HELP modelflag_client_cancelled_total Exchanges the client abandoned before the response ended.\n"
        out += "# TYPE modelflag_client_cancelled_total counter\n"
        out += "modelflag_client_cancelled_total \(sum { $0.clientCancelled })\n"
        out += "# HELP modelflag_request_body_bytes_total Request body bytes received from clients.\n"
        out += "# TYPE modelflag_request_body_bytes_total counter\n"
        out += "modelflag_request_body_bytes_total \(sum { $0.bytesIn })\n"
        out += "# HELP modelflag_response_body_bytes_total Response body bytes sent to clients.\n"
        out += "# TYPE modelflag_response_body_bytes_total counter\n"
        out += "modelflag_response_body_bytes_total \(sum { $0.bytesOut })\n"
        out += "# HELP modelflag_request_duration_seconds From the first request byte to the last response byte.\n"
        out += "# TYPE modelflag_request_duration_seconds histogram\n"
        var cumulative = 0
        for (i, bound) in Metrics.durationBounds.enumerated() {
            cumulative += all.reduce(0) { $0 + $1.durationBuckets[i].load }
            out += "modelflag_request_duration_seconds_bucket{le=\"\(bound)\"} \(cumulative)\n"
        }
        cumulative += all.reduce(0) { $0 + $1.durationBuckets[15].load }
        out += "modelflag_request_duration_seconds_bucket{le=\"+Inf\"} \(cumulative)\n"
        let sumMicros = all.reduce(0) { $0 + $1.durationSumMicros.load }
        out += "modelflag_request_duration_seconds_sum \(Double(sumMicros) / 1e6)\n"
        out += "modelflag_request_duration_seconds_count \(cumulative)\n"
        out +=
            "# HELP modelflag_rules_body_uninspected_total Request bodies rules could not read (predicates on them were false; the request still flowed).\n"
        out += "# TYPE modelflag_rules_body_uninspected_total counter\n"
        out += "modelflag_rules_body_uninspected_total{reason=\"not_json\"} \(sum { $0.bodyUninspected[0] })\n"
        out += "modelflag_rules_body_uninspected_total{reason=\"too_large\"} \(sum { $0.bodyUninspected[1] })\n"
        out += "# HELP modelflag_evaluator_calls_total External evaluator calls for shadow pairs, by result.\n"
        out += "# TYPE modelflag_evaluator_calls_total counter\n"
        for (n, label) in ["ok", "failed", "skipped"].enumerated() {
            out += "modelflag_evaluator_calls_total{result=\"\(label)\"} \(sum { $0.evaluatorCalls[n] })\n"
        }
        out += "# HELP modelflag_gate_decisions_total Confidence-gated attempts, by what was served.\n"
        out += "# TYPE modelflag_gate_decisions_total counter\n"
        out += "modelflag_gate_decisions_total{served=\"candidate\"} \(sum { $0.gateDecisions[0] })\n"
        out += "modelflag_gate_decisions_total{served=\"fallback\"} \(sum { $0.gateDecisions[1] })\n"
        out +=
            "# HELP modelflag_rollbacks_tripped_total Rollback tripwires that tripped (the variant gets no more traffic on this pod until the rules change).\n"
        out += "# TYPE modelflag_rollbacks_tripped_total counter\n"
        out += "modelflag_rollbacks_tripped_total \(sum { $0.rollbacksTripped })\n"
        out += "# HELP modelflag_shadow_requests_total Shadow copies sent to candidate variants.\n"
        out += "# TYPE modelflag_shadow_requests_total counter\n"
        out += "modelflag_shadow_requests_total \(sum { $0.shadowSent })\n"
        out += "# HELP modelflag_shadow_dropped_total Shadow copies not sent, by reason.\n"
        out += "# TYPE modelflag_shadow_dropped_total counter\n"
        out += "modelflag_shadow_dropped_total{reason=\"in_flight_cap\"} \(sum { $0.shadowDropped[0] })\n"
        out += "modelflag_shadow_dropped_total{reason=\"body_too_large\"} \(sum { $0.shadowDropped[1] })\n"
        out += "# HELP modelflag_shadow_responses_total Shadow calls ended, by outcome.\n"
        out += "# TYPE modelflag_shadow_responses_total counter\n"
        for (i, label) in ["ok", "upstream_error", "timeout", "incomplete"].enumerated() {
            out += "modelflag_shadow_responses_total{outcome=\"\(label)\"} \(sum { $0.shadowOutcomes[i] })\n"
        }
        let shadowEnded = (0..<4).reduce(0) { acc, i in acc + sum { $0.shadowOutcomes[i] } }
        out += "# HELP modelflag_shadow_in_flight Shadow calls waiting for their answer.\n"
        out += "# TYPE modelflag_shadow_in_flight gauge\n"
        out += "modelflag_shadow_in_flight \(sum { $0.shadowSent } - shadowEnded)\n"
        out += "# HELP modelflag_shadow_pooled_bytes Buffer bytes held by idle pooled shadow exchanges.\n"
        out += "# TYPE modelflag_shadow_pooled_bytes gauge\n"
        out += "modelflag_shadow_pooled_bytes \(sum { $0.shadowPooledBytes })\n"
        out += "# HELP modelflag_draining 1 while the process drains after SIGTERM.\n"
        out += "# TYPE modelflag_draining gauge\n"
        out += "modelflag_draining \(draining ? 1 : 0)\n"
        out += "# HELP modelflag_ready 1 when /readyz answers 200.\n"
        out += "# TYPE modelflag_ready gauge\n"
        out += "modelflag_ready \(ready ? 1 : 0)\n"
        return out
    }
}
