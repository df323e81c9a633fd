import Glibc
import Synchronization

/// A local rollback tripwire (`rollbackOn` in a flag): when the served variant's error or timeout
/// rate over the last `windowSeconds` exceeds `above` with at least `minSamples` requests, this
/// sidecar stops sending that variant traffic (its requests go to the flag's default variant)
/// until the rules are reloaded.
///
/// Each pod decides alone, from its own traffic, within the request that crosses the bound: no
/// control plane and no waiting for a scrape. The state lives with the loaded rule set, so a new
/// rules file (a fixed candidate, or weights set to 0 for good) starts clean.
public final class Tripwire: Sendable {
    public enum Metric: String, Sendable, CaseIterable {
        /// Upstream failures, timeouts, streams cut short, and 5xx answers.
        case errorRate = "error_rate"
        /// Timeouts and 504s only.
        case timeoutRate = "timeout_rate"
    }

    public let variant: Int
    public let metric: Metric
    public let above: Double
    public let minSamples: Int
    public let windowSeconds: Int

    private struct Window {
        var seconds: [Int]
        var total: [Int]
        var bad: [Int]
    }

    private let window: Mutex<Window>
    private let trippedFlag = Atomic<Bool>(false)
    /// When it tripped (seconds since the epoch) and the figures that did it, for logs and /rules.
    public let trippedWith = Mutex<(at: Int, total: Int, bad: Int)?>(nil)

    public init(variant: Int, metric: Metric, above: Double, minSamples: Int, windowSeconds: Int) {
        self.variant = variant
        self.metric = metric
        self.above = above
        self.minSamples = minSamples
        self.windowSeconds = windowSeconds
        window = Mutex(
            Window(
                seconds: [Int](repeating: -1, count: windowSeconds), total: [Int](repeating: 0, count: windowSeconds),
                bad: [Int](repeating: 0, count: windowSeconds)))
    }

    public var isTripped: Bool { trippedFlag.load(ordering: .relaxed) }

    /// Counts one ended request of `variant`. Returns true when this one tripped the wire.
    public func observe(bad: Bool, now: Int = Int(time(nil))) -> Bool {
        guard !isTripped else { return false }
        let result: (total: Int, bad: Int) = window.withLock { w in
            let i = now % windowSeconds
            if w.seconds[i] != now {
                w.seconds[i] = now
                w.total[i] = 0
                w.bad[i] = 0
            }
            w.total[i] += 1
            if bad { w.bad[i] += 1 }
            var total = 0
            var badCount = 0
            for k in 0..<windowSeconds where w.seconds[k] > now - windowSeconds {
                total += w.total[k]
                badCount += w.bad[k]
            }
            return (total, badCount)
        }
        guard result.total >= minSamples, Double(result.bad) / Double(result.total) > above else { return false }
        let first = trippedFlag.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
        if first { trippedWith.withLock { $0 = (now, result.total, result.bad) } }
        return first
    }
}
