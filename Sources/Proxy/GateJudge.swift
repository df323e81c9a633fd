import Records
import Rules

/// One promotion gate judged on one cell's observations, optionally against a reference cell
/// (the noise floor for `vsBaseline`, stable's served exchanges for `vsStable`). The one place
/// the verdict is computed: `modelflag gate` (every source) and each pod's `/stats` call it.
public enum GateJudge {
    public struct Outcome: Sendable {
        public var n: Int
        public var mean: Double
        public var low: Double
        public var high: Double
        public var verdict: GateVerdict
    }

    /// `alpha` is this cell's share of the family-wise rate. A comparison builds the difference's
    /// interval from both sides' intervals, each at half of it.
    public static func judge(
        _ gate: PromotionGate, sum: Double, n: Int, reference: (sum: Double, n: Int)?, alpha: Double
    ) -> Outcome {
        guard let delta = gate.vsBaseline ?? gate.vsStable else {
            let (mean, low, high) = ConfidenceSequence(alpha: alpha, tunedFor: gate.minSamples).interval(sum: sum, n: n)
            let verdict = GateVerdict.decide(
                low: low, high: high, n: n, minSamples: gate.minSamples, threshold: gate.max ?? gate.min ?? 0,
                atMost: gate.max != nil)
            return Outcome(n: n, mean: mean, low: low, high: high, verdict: verdict)
        }
        let cs = ConfidenceSequence(alpha: alpha / 2, tunedFor: gate.minSamples)
        let c = cs.interval(sum: sum, n: n)
        let b = cs.interval(sum: reference?.sum ?? 0, n: reference?.n ?? 0)
        let both = min(n, reference?.n ?? 0)
        let better = gate.higherIsBetter
        let verdict = GateVerdict.decide(
            low: c.low - b.high, high: c.high - b.low, n: both, minSamples: gate.minSamples,
            threshold: better ? -delta : delta, atMost: !better)
        return Outcome(n: both, mean: c.mean - b.mean, low: c.low - b.high, high: c.high - b.low, verdict: verdict)
    }
}
