import Glibc
import Records
import Rules
import Synchronization

/// Per flag × variant × role × segment statistics over a sliding window (issue 6): requests,
/// errors, latency and TTFT quantiles, and for shadow answers the pair scores (mean and low tail).
///
/// Shared by every worker (one mutex; a record-time update is a few dictionary lookups). The
/// window is 10 one-minute slots: a slot is reset when the minute it holds is over 10 minutes old,
/// so memory is bounded by the number of keys, and keys by the rules (flags × variants × 2 roles
/// × (segments referenced by the flag + 1, the `*` row that counts every request)).
public final class SegmentStats: Sendable {
    struct Key: Hashable {
        var flag: String
        var variant: String
        var role: String
        var segment: String
    }

    struct Cell {
        var requests = 0
        var errors = 0
        var latency = LatencySketch()
        var ttft = LatencySketch()
        var scored = 0
        var statusMatches = 0
        var exactMatches = 0
        var refusals = 0
        var rouge = ScoreHistogram()
        /// Gated attempts that fell back (role `gated`).
        var fallbacks = 0
        /// External evaluator scores by name (values clamped to [0, 1]).
        var evaluator: [String: ScoreHistogram] = [:]

        mutating func merge(_ o: Cell) {
            fallbacks += o.fallbacks
            for (name, h) in o.evaluator { evaluator[name, default: ScoreHistogram()].merge(h) }
            requests += o.requests
            errors += o.errors
            latency.merge(o.latency)
            ttft.merge(o.ttft)
            scored += o.scored
            statusMatches += o.statusMatches
            exactMatches += o.exactMatches
            refusals += o.refusals
            rouge.merge(o.rouge)
        }

        mutating func add(_ e: Event) {
            requests += 1
            if e.fallback { fallbacks += 1 }
            for (name, v) in e.evaluator { evaluator[name, default: ScoreHistogram()].add(v) }
            if !e.ok { errors += 1 }
            latency.add(e.latencyMs)
            if let t = e.ttftMs { ttft.add(t) }
            if let s = e.scores {
                scored += 1
                if s.statusMatch { statusMatches += 1 }
                if s.exactMatch { exactMatches += 1 }
                if s.shadowRefusal { refusals += 1 }
                rouge.add(s.rougeL)
            }
        }
    }

    struct Series {
        var minutes = [Int](repeating: -1, count: SegmentStats.slots)
        var cells = [Cell?](repeating: nil, count: SegmentStats.slots)
        /// Since start (Prometheus counters).
        var totalRequests = 0
        var totalErrors = 0
        /// Since start, per gate label: observations and their sum (for a tail, those past the bar).
        var gateTotals: [String: (n: Int, sum: Double)] = [:]

        mutating func add(_ e: Event, minute: Int) {
            let slot = minute % SegmentStats.slots
            if minutes[slot] != minute {
                minutes[slot] = minute
                cells[slot] = Cell()
            }
            cells[slot]!.add(e)
            totalRequests += 1
            if !e.ok { totalErrors += 1 }
            for (gate, label) in zip(e.gates, e.gateLabels) {
                guard let x = e.observation(gate) else { continue }
                gateTotals[label, default: (0, 0)].n += 1
                gateTotals[label, default: (0, 0)].sum += x
            }
        }
    }

    static let slots = 10
    static let slotSeconds = 60
    private let state = Mutex<[Key: Series]>([:])

    public init() {}

    /// One ended exchange (served or shadow).
    struct Event {
        var flag: String
        var variant: String
        var role: String
        var segments: [String]
        var ok: Bool
        var latencyMs: Double
        var ttftMs: Double?
        var scores: PairScores?
        var fallback = false
        var evaluator: [(name: String, value: Double)] = []
        /// The flag's promotion gates: each gate's observation of this exchange is counted for
        /// the lifetime counters Prometheus aggregates across pods.
        var gates: [PromotionGate] = []
        /// Their labels (`Flag.promotionGateLabels`), made when the rules loaded.
        var gateLabels: [String] = []

        /// This exchange as one observation of `gate` (nil when the gate does not look at it):
        /// the same values `modelflag gate` reads from a record.
        func observation(_ gate: PromotionGate) -> Double? {
            let shadow = role == "shadow"
            var x: Double?
            switch gate.metric {
            case .errorRate: x = ok ? 0 : 1
            case .latencyMs: x = latencyMs
            case .rougeL: x = shadow ? scores?.rougeL : nil
            case .exactMatch: x = shadow ? scores.map { $0.exactMatch ? 1 : 0 } : nil
            case .refusalRate: x = shadow ? scores.map { $0.shadowRefusal ? 1 : 0 } : nil
            case .statusMatch: x = shadow ? scores.map { $0.statusMatch ? 1 : 0 } : nil
            case .score: x = shadow ? evaluator.first { $0.name == gate.scoreName }?.value : nil
            }
            return x.map(gate.observation)
        }
    }

    /// The event of an exchange governed by a flag (nil otherwise: no flag, no row).
    static func event(
        route: Route, variant: Int, role: String, outcome: Outcome, notes: ExchangeNotes, endNs: UInt64,
        scores: PairScores?
    ) -> Event? {
        guard let rules = route.rules, let fi = route.flag, variant >= 0 else { return nil }
        let flag = rules.flags[fi]
        let segments = flag.segmentNames(route.segments)
        return Event(
            flag: flag.key, variant: flag.variants[variant].name, role: role, segments: segments,
            ok: outcome == .ok && notes.status < 500,
            latencyMs: endNs >= notes.startNs ? Double(endNs - notes.startNs) / 1e6 : 0,
            ttftMs: notes.streamed && notes.firstByteNs != 0 ? Double(notes.firstByteNs - notes.startNs) / 1e6 : nil,
            scores: scores, gates: flag.promotionGates, gateLabels: flag.promotionGateLabels)
    }

    func observe(_ e: Event, now: Int = Int(time(nil))) {
        let minute = now / SegmentStats.slotSeconds
        // In place (`default:` subscript, mutating methods): copying a series or a cell out and
        // back would copy its sketches' bins on every exchange.
        state.withLock { all in
            all[Key(flag: e.flag, variant: e.variant, role: e.role, segment: "*"), default: Series()]
                .add(e, minute: minute)
            for segment in e.segments {
                all[Key(flag: e.flag, variant: e.variant, role: e.role, segment: segment), default: Series()]
                    .add(e, minute: minute)
            }
        }
    }

    /// One row of the window.
    struct Row {
        var key: Key
        var window: Cell
        var totalRequests: Int
        var totalErrors: Int
        var gateTotals: [String: (n: Int, sum: Double)] = [:]
    }

    /// Every key's window merged (the last 10 minutes), sorted by flag, segment, variant, role.
    func snapshot(now: Int = Int(time(nil))) -> [Row] {
        let minute = now / SegmentStats.slotSeconds
        return state.withLock { all in
            all.map { key, series in
                var merged = Cell()
                for i in 0..<SegmentStats.slots where series.minutes[i] > minute - SegmentStats.slots {
                    if let c = series.cells[i] { merged.merge(c) }
                }
                return Row(
                    key: key, window: merged, totalRequests: series.totalRequests, totalErrors: series.totalErrors,
                    gateTotals: series.gateTotals)
            }
        }.sorted {
            ($0.key.flag, $0.key.segment, $0.key.variant, $0.key.role)
                < ($1.key.flag, $1.key.segment, $1.key.variant, $1.key.role)
        }
    }
}

/// Scores in [0, 1] in 100 bins: mean, minimum and low quantiles (the tail a gate looks at).
struct ScoreHistogram {
    private(set) var bins = [UInt32](repeating: 0, count: 101)
    private(set) var count = 0
    private(set) var sum = 0.0
    private(set) var min = 1.0

    mutating func add(_ x: Double) {
        let v = Swift.max(0, Swift.min(1, x))
        bins[Int((v * 100).rounded(.down))] += 1
        count += 1
        sum += v
        if v < min { min = v }
    }

    mutating func merge(_ o: ScoreHistogram) {
        guard o.count > 0 else { return }
        for i in 0..<bins.count { bins[i] += o.bins[i] }
        count += o.count
        sum += o.sum
        min = Swift.min(min, o.min)
    }

    var mean: Double? { count > 0 ? sum / Double(count) : nil }

    /// Scores below `bar` (a low tail). Exact for bars on the 0.01 grid; otherwise the bin that
    /// holds the bar counts as below (a tail gate errs on the side of not passing).
    func count(below bar: Double) -> Int {
        let k = Swift.max(0, Swift.min(bins.count, Int((bar * 100 - 1e-9).rounded(.up))))
        return bins[0..<k].reduce(0) { $0 + Int($1) }
    }

    /// The lower edge of the bin holding the q-quantile (conservative for a low tail).
    func quantile(_ q: Double) -> Double? {
        guard count > 0 else { return nil }
        let rank = Int((q * Double(count - 1)).rounded(.down))
        var seen = 0
        for i in 0..<bins.count {
            seen += Int(bins[i])
            if seen > rank { return Swift.max(Double(i) / 100, min) }
        }
        return 1
    }
}

extension SegmentStats {
    /// `GET /stats`: the window as JSON.
    /// With `rules`, the rows of candidate variants (not a flag's default) also carry the verdict of
    /// each promotion gate on this pod's window (`modelflag gate` gives the fleet's over records).
    func json(rules: RuleSet? = nil, alpha: Double = 0.05, now: Int = Int(time(nil))) -> String {
        var out = "{\"window_seconds\":\(SegmentStats.slots * SegmentStats.slotSeconds),\"alpha\":\(alpha),\"rows\":["
        let rows = snapshot(now: now)
        // Bonferroni over every (row, gate) the window can judge.
        let cells = rows.reduce(0) { acc, row in acc + gates(for: row, in: rules).count }
        for (n, row) in rows.enumerated() {
            if n > 0 { out += "," }
            let w = row.window
            out += "{\"flag\":\(quote(row.key.flag)),\"variant\":\(quote(row.key.variant)),\"role\":\"\(row.key.role)\""
            out += ",\"segment\":\(quote(row.key.segment)),\"requests\":\(w.requests),\"errors\":\(w.errors)"
            out += ",\"error_rate\":\(num(w.requests > 0 ? Double(w.errors) / Double(w.requests) : nil))"
            out += ",\"latency_ms\":\(quantiles(w.latency)),\"ttft_ms\":\(quantiles(w.ttft))"
            if !w.evaluator.isEmpty {
                out += ",\"evaluator\":{"
                for (i, (name, h)) in w.evaluator.sorted(by: { $0.key < $1.key }).enumerated() {
                    if i > 0 { out += "," }
                    out +=
                        "\(quote(name)):{\"n\":\(h.count),\"mean\":\(num(h.mean)),\"p5\":\(num(h.quantile(0.05))),\"min\":\(num(h.min))}"
                }
                out += "}"
            }
            if row.key.role == "gated" {
                out +=
                    ",\"fallbacks\":\(w.fallbacks),\"fallback_rate\":\(num(w.requests > 0 ? Double(w.fallbacks) / Double(w.requests) : nil))"
            }
            if w.scored > 0 {
                let n = Double(w.scored)
                out += ",\"scores\":{\"n\":\(w.scored),\"rouge_l_mean\":\(num(w.rouge.mean))"
                out += ",\"rouge_l_p5\":\(num(w.rouge.quantile(0.05))),\"rouge_l_min\":\(num(w.rouge.min))"
                out += ",\"exact_match_rate\":\(num(Double(w.exactMatches) / n))"
                out += ",\"status_match_rate\":\(num(Double(w.statusMatches) / n))"
                out += ",\"refusal_rate\":\(num(Double(w.refusals) / n))}"
            } else {
                out += ",\"scores\":null"
            }
            // Tail gates' raw counts on every row of the flag (stable's too, for vsStable and the
            // noise floor): `modelflag gate --source admin://` adds them up across pods.
            let tails = rules?.flags.first { $0.key == row.key.flag }?.promotionGates.filter(\.isTail) ?? []
            if !tails.isEmpty {
                out += ",\"tails\":{"
                for (i, gate) in tails.enumerated() {
                    if i > 0 { out += "," }
                    let (past, n) = SegmentStats.figure(gate, w)
                    out += "\(quote(gate.label)):{\"n\":\(n),\"past\":\(Int(past))}"
                }
                out += "}"
            }
            out += ",\"total_requests\":\(row.totalRequests),\"total_errors\":\(row.totalErrors),\"gates\":["
            for (gi, gate) in gates(for: row, in: rules).enumerated() {
                if gi > 0 { out += "," }
                let j = judge(gate, row, rows, rules, cells: cells, alpha: alpha)
                out += "{\"metric\":\(quote(gate.label)),\"n\":\(j.n),\"value\":\(num(j.n > 0 ? j.mean : nil))"
                out += ",\"low\":\(num(j.low)),\"high\":\(num(j.high))"
                if let d = gate.vsBaseline {
                    out += ",\"vsBaseline\":\(num(d))"
                } else if let d = gate.vsStable {
                    out += ",\"vsStable\":\(num(d))"
                } else {
                    out += ",\(gate.max != nil ? "\"max\"" : "\"min\""):\(num(gate.max ?? gate.min))"
                }
                out += ",\"verdict\":\"\(j.verdict.rawValue)\"}"
            }
            out += "]}"
        }
        return out + "]}\n"
    }

    /// One gate on one row's window, judged like `modelflag gate` does. A comparison gate reads
    /// its reference from the same window: the default variant's shadow row of the segment
    /// (`vsBaseline`, the noise floor) or its served row (`vsStable`).
    private func judge(
        _ gate: PromotionGate, _ row: Row, _ rows: [Row], _ rules: RuleSet?, cells: Int, alpha: Double
    ) -> GateJudge.Outcome {
        let (sum, count) = SegmentStats.figure(gate, row.window)
        var reference: (sum: Double, n: Int)?
        if gate.vsBaseline != nil || gate.vsStable != nil {
            let flag = rules?.flags.first { $0.key == row.key.flag }
            let stable = flag.map { $0.variants[$0.defaultVariant].name }
            let role = gate.vsBaseline != nil ? "shadow" : "served"
            let ref = rows.first {
                $0.key.flag == row.key.flag && $0.key.variant == stable && $0.key.role == role
                    && $0.key.segment == row.key.segment
            }
            let (refSum, refCount) = ref.map { SegmentStats.figure(gate, $0.window) } ?? (0, 0)
            reference = (refSum, refCount)
        }
        return GateJudge.judge(
            gate, sum: sum, n: count, reference: reference, alpha: alpha / Double(max(1, cells)))
    }

    /// The promotion gates a row can be judged on: candidate variants only; `error_rate` on every
    /// role, the score metrics on shadow rows.
    private func gates(for row: Row, in rules: RuleSet?) -> [PromotionGate] {
        guard let rules, let flag = rules.flags.first(where: { $0.key == row.key.flag }),
            flag.variants[flag.defaultVariant].name != row.key.variant
        else { return [] }
        return flag.promotionGates.filter {
            $0.metric == .errorRate || $0.metric == .latencyMs || row.key.role == "shadow"
        }
    }

    /// (sum, count) of a gate's observations in a window, values in [0, 1]: a mean's sum, or for
    /// a tail the number of samples past the bar.
    static func figure(_ gate: PromotionGate, _ w: Cell) -> (Double, Int) {
        switch gate.metric {
        case .errorRate: return (Double(w.errors), w.requests)
        case .rougeL:
            if let bar = gate.below { return (Double(w.rouge.count(below: bar)), w.rouge.count) }
            return (w.rouge.sum, w.rouge.count)
        case .exactMatch: return (Double(w.exactMatches), w.scored)
        case .refusalRate: return (Double(w.refusals), w.scored)
        case .statusMatch: return (Double(w.statusMatches), w.scored)
        case .score:
            guard let h = w.evaluator[gate.scoreName ?? ""] else { return (0, 0) }
            if let bar = gate.below { return (Double(h.count(below: bar)), h.count) }
            return (h.sum, h.count)
        case .latencyMs:
            return (Double(w.latency.count(above: gate.above ?? .infinity)), w.latency.count)
        }
    }

    /// Prometheus lines: lifetime counters and window gauges per key.
    func prometheus(rules: RuleSet? = nil, alpha: Double = 0.05, now: Int = Int(time(nil))) -> String {
        let rows = snapshot(now: now)
        guard !rows.isEmpty else { return "" }
        let cells = rows.reduce(0) { acc, row in acc + gates(for: row, in: rules).count }
        var out =
            "# HELP modelflag_segment_requests_total Exchanges by flag, variant, role (served/shadow) and segment (* = all).\n"
        out += "# TYPE modelflag_segment_requests_total counter\n"
        for r in rows { out += "modelflag_segment_requests_total{\(labels(r.key))} \(r.totalRequests)\n" }
        out += "# HELP modelflag_segment_errors_total Exchanges whose outcome was not ok, or answered 5xx.\n"
        out += "# TYPE modelflag_segment_errors_total counter\n"
        for r in rows { out += "modelflag_segment_errors_total{\(labels(r.key))} \(r.totalErrors)\n" }
        out += "# HELP modelflag_segment_latency_seconds Latency quantiles over the last 10 minutes.\n"
        out += "# TYPE modelflag_segment_latency_seconds gauge\n"
        for r in rows {
            for q in [0.5, 0.9, 0.99] {
                if let v = r.window.latency.quantile(q) {
                    out += "modelflag_segment_latency_seconds{\(labels(r.key)),quantile=\"\(q)\"} \(v / 1000)\n"
                }
            }
        }
        if rows.contains(where: { !$0.window.evaluator.isEmpty }) {
            out +=
                "# HELP modelflag_segment_evaluator_score External evaluator scores over the last 10 minutes (mean, p5, min).\n"
            out += "# TYPE modelflag_segment_evaluator_score gauge\n"
            for r in rows {
                for (name, h) in r.window.evaluator.sorted(by: { $0.key < $1.key }) {
                    for (stat, v) in [("mean", h.mean ?? 0), ("p5", h.quantile(0.05) ?? 0), ("min", h.min)] {
                        out +=
                            "modelflag_segment_evaluator_score{\(labels(r.key)),name=\(quote(name)),stat=\"\(stat)\"} \(v)\n"
                    }
                }
            }
        }
        out += "# HELP modelflag_segment_rouge_l Shadow-vs-served ROUGE-L over the last 10 minutes (mean, p5, min).\n"
        out += "# TYPE modelflag_segment_rouge_l gauge\n"
        for r in rows where r.window.scored > 0 {
            let h = r.window.rouge
            out += "modelflag_segment_rouge_l{\(labels(r.key)),stat=\"mean\"} \(h.mean ?? 0)\n"
            out += "modelflag_segment_rouge_l{\(labels(r.key)),stat=\"p5\"} \(h.quantile(0.05) ?? 0)\n"
            out += "modelflag_segment_rouge_l{\(labels(r.key)),stat=\"min\"} \(h.min)\n"
        }
        if rows.contains(where: { !$0.gateTotals.isEmpty }) {
            let families: [(name: String, help: String, value: ((n: Int, sum: Double)) -> String)] = [
                (
                    "modelflag_gate_observations_total",
                    "Observations of each promotion gate since start (gate = its label), by flag, variant, role, segment.",
                    { "\($0.n)" }
                ),
                (
                    "modelflag_gate_sum_total",
                    "Sum of those observations (values in [0, 1]; for a tail, the observations past its bar).",
                    { "\($0.sum)" }
                ),
            ]
            for family in families {
                out += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) counter\n"
                for r in rows {
                    for (label, t) in r.gateTotals.sorted(by: { $0.key < $1.key }) {
                        out += "\(family.name){\(labels(r.key)),gate=\(quote(label))} \(family.value(t))\n"
                    }
                }
            }
        }
        if cells > 0 {
            out +=
                "# HELP modelflag_gate_verdict Promotion gate on this pod's 10-minute window: 1 pass, 0 inconclusive, -1 fail.\n"
            out += "# TYPE modelflag_gate_verdict gauge\n"
            for r in rows {
                for gate in gates(for: r, in: rules) {
                    let v = judge(gate, r, rows, rules, cells: cells, alpha: alpha).verdict
                    let value = v == .pass ? 1 : v == .fail ? -1 : 0
                    out += "modelflag_gate_verdict{\(labels(r.key)),metric=\"\(gate.label)\"} \(value)\n"
                }
            }
        }
        return out
    }

    private func labels(_ k: Key) -> String {
        "flag=\(quote(k.flag)),variant=\(quote(k.variant)),role=\"\(k.role)\",segment=\(quote(k.segment))"
    }

    private func quote(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "\""
    }

    private func num(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "null" }
        return String((v * 10_000).rounded() / 10_000)
    }

    private func quantiles(_ s: LatencySketch) -> String {
        guard s.count > 0 else { return "null" }
        return
            "{\"p50\":\(num(s.quantile(0.5))),\"p90\":\(num(s.quantile(0.9))),\"p99\":\(num(s.quantile(0.99))),\"max\":\(num(s.max))}"
    }
}
