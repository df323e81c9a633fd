import Glibc

/// A mergeable quantile sketch with relative accuracy (DDSketch's log buckets): a value x > 0
/// lands in bucket ceil(log_γ x) with γ = (1 + α) / (1 − α), α = 3 %, so any quantile read back is
/// within 3 % of a true sample value. Fixed bins cover 1 µs to about 10 hours in milliseconds;
/// values outside are clamped to the end bins. Sketches of two windows, workers or pods merge by
/// adding bins, which is what makes per-segment tails comparable across time and pods.
public struct LatencySketch: Sendable {
    static let alpha = 0.03
    static let gamma = (1 + alpha) / (1 - alpha)
    static let logGamma = log(gamma)
    static let bins = 400
    /// Bucket index of the first bin (values ≤ γ^offset land in bin 0).
    static let offset = -Int((log(1e-3) / logGamma).rounded(.down))

    private(set) var counts: [UInt32]
    public private(set) var count = 0
    private(set) var sum = 0.0
    private(set) var min = Double.infinity
    public private(set) var max = 0.0

    public init() { counts = [UInt32](repeating: 0, count: LatencySketch.bins) }

    static func bin(_ x: Double) -> Int {
        guard x > 0 else { return 0 }
        let i = Int((log(x) / logGamma).rounded(.up)) + offset
        return Swift.max(0, Swift.min(bins - 1, i))
    }

    /// The value a bin stands for: the midpoint of its range in relative terms.
    static func value(ofBin i: Int) -> Double {
        2 * pow(gamma, Double(i - offset)) / (gamma + 1)
    }

    public mutating func add(_ x: Double) {
        counts[LatencySketch.bin(x)] += 1
        count += 1
        sum += x
        if x < min { min = x }
        if x > max { max = x }
    }

    mutating func merge(_ other: LatencySketch) {
        guard other.count > 0 else { return }
        for i in 0..<LatencySketch.bins where other.counts[i] != 0 { counts[i] += other.counts[i] }
        count += other.count
        sum += other.sum
        min = Swift.min(min, other.min)
        max = Swift.max(max, other.max)
    }

    /// The q-quantile (0…1); nil when empty. The extremes are exact.
    public func quantile(_ q: Double) -> Double? {
        guard count > 0 else { return nil }
        if q <= 0 { return min }
        if q >= 1 { return max }
        let rank = UInt64((q * Double(count - 1)).rounded(.down))
        var seen: UInt64 = 0
        for i in 0..<LatencySketch.bins {
            seen += UInt64(counts[i])
            if seen > rank { return Swift.min(Swift.max(LatencySketch.value(ofBin: i), min), max) }
        }
        return max
    }

    var mean: Double? { count > 0 ? sum / Double(count) : nil }

    /// Samples above `bar` (a high tail), to the sketch's 3 %: the bin that holds the bar counts
    /// as above, so a tail gate errs on the side of not passing.
    func count(above bar: Double) -> Int {
        guard count > 0, bar < max else { return 0 }
        var n = 0
        for i in LatencySketch.bin(bar)..<LatencySketch.bins { n += Int(counts[i]) }
        return n
    }
}
