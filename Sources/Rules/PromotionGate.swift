/// A promotion gate (`gates` in a flag): a figure of the candidate variants, per segment, that
/// must be met before its traffic may grow. Evaluated by `modelflag gate` over output records.
public struct PromotionGate: Sendable {
    public enum Metric: String, Sendable, CaseIterable {
        /// Share of the candidate's exchanges (served and shadow) not `ok` or answered 5xx.
        case errorRate = "error_rate"
        /// Mean ROUGE-L of the candidate's shadow answers against the served (stable) ones.
        case rougeL = "rouge_l"
        /// Share of shadow answers identical to the served ones.
        case exactMatch = "exact_match"
        /// Share of shadow answers that open with a refusal.
        case refusalRate = "refusal_rate"
        /// Share of shadow answers with the served answer's HTTP status.
        case statusMatch = "status_match"
        /// Mean of an external evaluator's score (`score:NAME`, values in [0, 1]).
        case score
        /// Latency of the candidate's exchanges, in milliseconds: only as a tail (`above`).
        case latencyMs = "latency_ms"
    }

    /// For `score:NAME`: the evaluator's score name.
    public var scoreName: String?

    public var metric: Metric
    /// The figure must stay at or below this (rates that should be low)...
    public var max: Double?
    /// ...or at or above this (agreement that should be high). Exactly one of them.
    public var min: Double?
    /// ...or no worse than the noise floor (the served variant shadowed against itself, same
    /// segment) by more than this: the candidate's disagreement with stable is judged against
    /// stable's disagreement with itself. Score metrics only.
    public var vsBaseline: Double?
    /// ...or no worse than the default variant's own served figure in the same segment by more
    /// than this: `error_rate` and `latency_ms` (stable's errors and latency are the yardstick).
    public var vsStable: Double?
    /// Below this many samples in a segment the verdict is Inconclusive whatever the figure.
    public var minSamples: Int
    /// A tail instead of a mean: the figure becomes the share of samples below this bar (scores:
    /// `{"metric": "rouge_l", "below": 0.3, "max": 0.05}` = at most 5 % of answers under 0.3)...
    public var below: Double?
    /// ...or above this bar (`{"metric": "latency_ms", "above": 2000, "max": 0.01}` = at most 1 %
    /// of requests slower than 2 s, i.e. p99 ≤ 2 s). Judged as a share, so the same sequential
    /// test holds for the tail as for a mean.
    public var above: Double?

    public init(metric: Metric, max: Double?, min: Double?, vsBaseline: Double? = nil, minSamples: Int) {
        self.metric = metric
        self.max = max
        self.min = min
        self.vsBaseline = vsBaseline
        self.minSamples = minSamples
    }

    /// Whether a higher figure is better (agreement) or worse (errors, refusals, a tail's share).
    public var higherIsBetter: Bool {
        metric != .errorRate && metric != .refusalRate && metric != .latencyMs && below == nil && above == nil
    }

    /// Whether the gate counts a tail (the share past a bar) rather than a mean.
    public var isTail: Bool { below != nil || above != nil }

    /// A raw value (a score, a latency, 0/1 for an error) as this gate's observation in [0, 1]:
    /// for a tail 1 when past the bar else 0, otherwise the value clamped. Records, `/stats` and
    /// the Prometheus counters all go through it.
    public func observation(_ value: Double) -> Double {
        if isTail { return pastBar(value) ? 1 : 0 }
        return Swift.max(0, Swift.min(1, value))
    }

    /// Whether one observation is past the tail's bar.
    public func pastBar(_ x: Double) -> Bool {
        if let below { return x < below }
        if let above { return x > above }
        return false
    }

    /// The name shown in tables: `rouge_l`, `score:quality`, `rouge_l<0.3`, `latency_ms>2000`.
    public var label: String {
        let base = metric == .score ? "score:" + (scoreName ?? "") : metric.rawValue
        if let below { return base + "<" + PromotionGate.short(below) }
        if let above { return base + ">" + PromotionGate.short(above) }
        return base
    }

    static func short(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v)
    }
}
