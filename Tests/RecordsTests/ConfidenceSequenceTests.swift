import Records
import Testing

/// The gate statistics: an always-valid interval never lets a candidate that is exactly at the
/// threshold pass more often than α, even when the verdict is checked after every sample.
struct ConfidenceSequenceTests {
    /// SplitMix64: a seeded generator, so the simulation is the same on every run.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func radiusShrinksWithSamples() {
        let cs = ConfidenceSequence(alpha: 0.05, tunedFor: 100)
        #expect(cs.radius(10) > cs.radius(100))
        #expect(cs.radius(100) > cs.radius(10_000))
        #expect(cs.radius(10_000) < 0.02)
        #expect(cs.radius(0) == .infinity)
    }

    /// 200 simulated candidates whose error rate equals the gate's limit (the equal-to-stable
    /// case), each watched after every one of 3,000 requests: the share that ever passed is the
    /// false-promotion rate, and it stays under α = 0.05 (about 10 of 200). A fixed-sample 95 %
    /// interval checked the same way passes far more often, which is what peeking costs.
    @Test func peekingAfterEverySampleKeepsTheFalsePromotionRateUnderAlpha() {
        var rng = Seeded(state: 42)
        let p = 0.05
        var alwaysValidPasses = 0
        var naivePasses = 0
        let cs = ConfidenceSequence(alpha: 0.05, tunedFor: 500)
        for _ in 0..<200 {
            var sum = 0.0
            var passedCS = false
            var passedNaive = false
            for n in 1...3000 {
                if Double.random(in: 0..<1, using: &rng) < p { sum += 1 }
                let (mean, low, high) = cs.interval(sum: sum, n: n)
                if !passedCS,
                    GateVerdict.decide(low: low, high: high, n: n, minSamples: 100, threshold: p, atMost: true)
                        == .pass
                {
                    passedCS = true
                }
                // Wald interval, 95 %, as a fixed-n analysis would compute it.
                let wald = 1.96 * (mean * (1 - mean) / Double(n)).squareRoot()
                if !passedNaive && n >= 100 && mean + wald <= p { passedNaive = true }
            }
            if passedCS { alwaysValidPasses += 1 }
            if passedNaive { naivePasses += 1 }
        }
        print(
            "gate simulation: false promotions \(alwaysValidPasses)/200 always-valid, \(naivePasses)/200 fixed-n Wald peeked"
        )
        #expect(alwaysValidPasses <= 10, "false promotions: \(alwaysValidPasses) of 200")
        #expect(naivePasses > alwaysValidPasses)
    }

    /// A clearly good candidate passes, a clearly bad one fails, both well within a few thousand samples.
    @Test func clearCasesDecide() {
        var rng = Seeded(state: 7)
        let cs = ConfidenceSequence(alpha: 0.05 / 8, tunedFor: 200)
        func samplesToDecide(_ p: Double, limit: Double) -> (Int, GateVerdict) {
            var sum = 0.0
            for n in 1...20_000 {
                if Double.random(in: 0..<1, using: &rng) < p { sum += 1 }
                let (_, low, high) = cs.interval(sum: sum, n: n)
                let v = GateVerdict.decide(low: low, high: high, n: n, minSamples: 200, threshold: limit, atMost: true)
                if v != .inconclusive { return (n, v) }
            }
            return (20_000, .inconclusive)
        }
        let good = samplesToDecide(0.01, limit: 0.10)
        let bad = samplesToDecide(0.30, limit: 0.10)
        print("gate simulation: 1 % errors vs a 10 % limit decided after \(good.0) requests, 30 % after \(bad.0)")
        #expect(good.1 == .pass)
        #expect(bad.1 == .fail)
        #expect(good.0 < 2_000 && bad.0 < 2_000, "good after \(good.0), bad after \(bad.0)")
        #expect(
            GateVerdict.decide(low: 0, high: 0.01, n: 5, minSamples: 200, threshold: 0.1, atMost: true) == .inconclusive
        )
    }
}
