import Glibc

/// An always-valid confidence sequence for the mean of observations in [0, 1]: with probability at
/// least 1 − α the interval contains the true mean at every sample size at once, so a gate may
/// look after every record and stop as soon as the interval clears its threshold, and peeking
/// never inflates the error (a fixed-n interval checked repeatedly would).
///
/// The boundary is Robbins' two-sided normal mixture for sub-Gaussian sums (values in [0, 1] are
/// 1/4-sub-Gaussian): |Σ(xᵢ − μ)| < √((nσ² + ρ) · ln((nσ² + ρ) / (ρ α²))) for all n (Howard et al.,
/// "Time-uniform, nonparametric, nonasymptotic confidence sequences", 2021). ρ tunes where the
/// interval is tightest: ρ = σ² · n₀ makes it so around n₀ samples.
public struct ConfidenceSequence: Sendable {
    public let alpha: Double
    public let rho: Double
    static let variance = 0.25

    public init(alpha: Double, tunedFor n0: Int) {
        self.alpha = alpha
        rho = ConfidenceSequence.variance * Double(max(1, n0))
    }

    /// Half-width of the interval around the sample mean after `n` observations.
    public func radius(_ n: Int) -> Double {
        guard n > 0 else { return .infinity }
        let v = Double(n) * ConfidenceSequence.variance + rho
        return sqrt(v * log(v / (rho * alpha * alpha))) / Double(n)
    }

    /// Sample mean and interval [low, high] (clamped to [0, 1]).
    public func interval(sum: Double, n: Int) -> (mean: Double, low: Double, high: Double) {
        guard n > 0 else { return (0, 0, 1) }
        let mean = sum / Double(n)
        let r = radius(n)
        return (mean, max(0, mean - r), min(1, mean + r))
    }
}

/// What a promotion gate says for one segment.
public enum GateVerdict: String, Sendable {
    case pass = "PASS"
    case fail = "FAIL"
    /// Not enough evidence either way (or fewer than the gate's minimum samples): no data never passes.
    case inconclusive = "INCONCLUSIVE"

    /// `figure ≤ max` (when `atMost`) or `figure ≥ threshold`, decided on the interval.
    public static func decide(
        low: Double, high: Double, n: Int, minSamples: Int, threshold: Double, atMost: Bool
    ) -> GateVerdict {
        guard n >= minSamples else { return .inconclusive }
        if atMost {
            if high <= threshold { return .pass }
            if low > threshold { return .fail }
        } else {
            if low >= threshold { return .pass }
            if high < threshold { return .fail }
        }
        return .inconclusive
    }
}
