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
    /// Below this many samples in a segment the verdict is Inconclusive whatever the figure.
    public var minSamples: Int

    public init(metric: Metric, max: Double?, min: Double?, vsBaseline: Double? = nil, minSamples: Int) {
        self.metric = metric
        self.max = max
        self.min = min
        self.vsBaseline = vsBaseline
        self.minSamples = minSamples
    }

    /// Whether a higher figure is better (agreement) or worse (errors, refusals).
    public var higherIsBetter: Bool { metric != .errorRate && metric != .refusalRate }

    /// The name shown in tables: `rouge_l`, `score:quality`.
    public var label: String { metric == .score ? "score:" + (scoreName ?? "") : metric.rawValue }
}
