import Foundation
import Testing

@testable import Proxy

struct SegmentStatsTests {
    /// Every quantile read back is within the sketch's 3 % of the true sample quantile.
    @Test func sketchQuantilesAreWithinTheRelativeAccuracy() {
        var rng = SystemRandomNumberGenerator()
        var sketch = LatencySketch()
        var values: [Double] = []
        for _ in 0..<20_000 {
            // Log-uniform between 0.05 ms and 5 s, plus a heavy tail.
            let v = exp(Double.random(in: log(0.05)...log(5000), using: &rng))
            values.append(v)
            sketch.add(v)
        }
        values.sort()
        for q in [0.01, 0.05, 0.5, 0.9, 0.99, 0.999] {
            let exact = values[Int((q * Double(values.count - 1)).rounded(.down))]
            let got = sketch.quantile(q)!
            #expect(abs(got - exact) / exact <= 0.031, "q \(q): \(got) vs \(exact)")
        }
        #expect(sketch.quantile(0) == values.first)
        #expect(sketch.quantile(1) == values.last)
    }

    @Test func mergedSketchesEqualOneSketchOfEverything() {
        var a = LatencySketch()
        var b = LatencySketch()
        var all = LatencySketch()
        for i in 1...1000 {
            let v = Double(i) * 0.37
            if i % 3 == 0 { a.add(v) } else { b.add(v) }
            all.add(v)
        }
        a.merge(b)
        for q in [0.1, 0.5, 0.99] { #expect(a.quantile(q) == all.quantile(q)) }
        #expect(a.count == all.count)
    }

    @Test func scoreHistogramLowTail() {
        var h = ScoreHistogram()
        for i in 0..<100 { h.add(Double(i) / 100) }  // 0.00 … 0.99
        #expect(h.min == 0)
        #expect(h.quantile(0.05) == 0.04)
        #expect(abs(h.mean! - 0.495) < 1e-9)
    }

    /// Rows per segment plus `*`; the window forgets minutes older than 10, totals do not.
    @Test func windowSlidesAndTotalsStay() {
        let stats = SegmentStats()
        let t0 = 1_800_000_000
        for i in 0..<10 {
            stats.observe(
                .init(
                    flag: "chat", variant: "stable", role: "served", segments: i < 4 ? ["faq"] : [], ok: i != 9,
                    latencyMs: Double(i + 1), ttftMs: nil, scores: nil), now: t0)
        }
        let rows = stats.snapshot(now: t0 + 30)
        let all = rows.first { $0.key.segment == "*" }!
        let faq = rows.first { $0.key.segment == "faq" }!
        #expect(all.window.requests == 10 && all.window.errors == 1)
        #expect(faq.window.requests == 4 && faq.window.errors == 0)
        #expect(all.window.latency.quantile(1) == 10)
        let later = stats.snapshot(now: t0 + 11 * 60)
        #expect(later.allSatisfy { $0.window.requests == 0 })
        #expect(later.first { $0.key.segment == "*" }?.totalRequests == 10)
        let json = stats.json(now: t0 + 30)
        let parsed = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect((parsed?["rows"] as? [Any])?.count == 2)
        #expect(
            stats.prometheus(now: t0 + 30).contains(
                #"modelflag_segment_requests_total{flag="chat",variant="stable",role="served",segment="faq"} 4"#))
    }
}
