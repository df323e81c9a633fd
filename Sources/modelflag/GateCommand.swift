import ArgumentParser
import Glibc
import Proxy
import Records
import Rules

/// `modelflag gate`: evaluates a flag's promotion gates per segment over output records.
struct GateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate",
        abstract:
            "Evaluate the promotion gates of the rules file per segment; exit 0 all pass, 1 a gate fails, 2 inconclusive.",
        discussion: """
            Every gate is checked for each candidate variant (every variant but the flag's default) in every segment the \
            flag's targeting references, plus '*' (all requests), on the candidate's served, gated and shadow records. \
            The verdict comes from an always-valid confidence sequence: it can be run after every batch of records and \
            pass as soon as the evidence allows, without peeking ever raising the false-promotion rate above --alpha, \
            which is split over every (variant, segment, gate) cell (Bonferroni).
            """)

    @Option(help: "The rules file (its flags' gates).") var rules: String
    @Option(
        help:
            "Where the figures come from: records:DIR (a sidecar's --records-dir), admin://HOST:PORT[,HOST:PORT...] (the sidecars' /stats windows, added up), or prometheus://HOST:PORT (the sidecars' gate counters as Prometheus scraped them; with --since, counted from that time)."
    )
    var source: String
    @Option(help: "Only this flag.") var flag: String?
    @Option(help: "Family-wise false-promotion rate.") var alpha = 0.05
    @Option(help: "Only records at or after this time (RFC 3339 UTC or a prefix), e.g. the stage's start.")
    var since: String?
    @ArgumentParser.Flag(
        help:
            "Write the outcome into the rules file (temp file + rename): every gate passes -> the flag's rollout moves to its next stage; a segment's gate fails -> that segment is blocked and the healthy ones move on; the gate over all requests (*) fails -> stage -1 (rolled back); inconclusive -> unchanged."
    )
    var apply = false

    func validate() throws {
        guard source.hasPrefix("records:") || source.hasPrefix("admin://") || source.hasPrefix("prometheus://") else {
            throw ValidationError(
                "--source is records:DIR, admin://HOST:PORT[,HOST:PORT...] or prometheus://HOST:PORT; got '\(source)'")
        }
        if source.hasPrefix("admin://") && since != nil {
            throw ValidationError(
                "--since applies to records: and prometheus:// sources; admin:// is each sidecar's last 10 minutes")
        }
        if source.hasPrefix("prometheus://"), let since, PrometheusSource.unixTime(since) == nil {
            throw ValidationError("--since is an RFC 3339 UTC time (or a prefix of one); got '\(since)'")
        }
        guard alpha > 0 && alpha < 1 else { throw ValidationError("--alpha is between 0 and 1") }
    }

    /// The cell key standing for the default variant's shadow copies of itself (noise floor).
    static let baseline = "\u{0}baseline"
    /// The cell key standing for the default variant's own served (and gated) exchanges.
    static let stable = "\u{0}stable"

    /// The cell a figure counts in: the candidate's own name, or for the default variant the
    /// noise floor (its shadow copies of itself) or stable's own exchanges (served).
    static func cellVariant(_ f: Rules.Flag, _ variant: String, role: String) -> String {
        guard variant == f.variants[f.defaultVariant].name else { return variant }
        return role == "shadow" ? baseline : stable
    }

    /// Gates judged on every exchange of the candidate (served, gated and shadow); the others on
    /// its shadow answers only.
    static func everyRole(_ gate: PromotionGate) -> Bool { gate.metric == .errorRate || gate.metric == .latencyMs }

    struct Cell {
        var sum = 0.0
        var n = 0
    }

    func run() throws {
        let set = try loadRules(rules)
        let dir = String(source.dropFirst("records:".count))
        let flags = set.flags.filter { !$0.promotionGates.isEmpty && (flag == nil || $0.key == flag) }
        guard !flags.isEmpty else {
            throw ValidationError(
                flag.map { "flag '\($0)' has no \"gates\" in \(rules)" } ?? "no flag in \(rules) has \"gates\"")
        }
        // (flag, variant, segment, gate) -> observations.
        var cells: [CellKey: Cell] = [:]
        func key(_ f: String, _ v: String, _ s: String, _ g: Int) -> CellKey {
            CellKey(flag: f, variant: v, segment: s, gate: g)
        }
        var files = 0
        if source.hasPrefix("admin://") {
            let statsRows: [JSONNode]
            do {
                statsRows = try AdminStatsSource.rows(source)
            } catch {
                throw ValidationError("\(error)")
            }
            for r in statsRows {
                guard let fk = r["flag"]?.string, let f = flags.first(where: { $0.key == fk }),
                    let name = r["variant"]?.string, let role = r["role"]?.string, let segment = r["segment"]?.string
                else { continue }
                let variant = GateCommand.cellVariant(f, name, role: role)
                let requests = r["requests"]?.number ?? 0
                let scored = r["scores"]?["n"]?.number ?? 0
                for (gi, gate) in f.promotionGates.enumerated() {
                    var add: (sum: Double, n: Double) = (0, 0)
                    if gate.isTail {
                        let t = r["tails"]?[gate.label]
                        add = (t?["past"]?.number ?? 0, t?["n"]?.number ?? 0)
                    } else {
                        switch gate.metric {
                        case .errorRate: add = (r["errors"]?.number ?? 0, requests)
                        case .rougeL: add = (scored * (r["scores"]?["rouge_l_mean"]?.number ?? 0), scored)
                        case .exactMatch: add = (scored * (r["scores"]?["exact_match_rate"]?.number ?? 0), scored)
                        case .refusalRate: add = (scored * (r["scores"]?["refusal_rate"]?.number ?? 0), scored)
                        case .statusMatch: add = (scored * (r["scores"]?["status_match_rate"]?.number ?? 0), scored)
                        case .score:
                            let e = r["evaluator"]?[gate.scoreName ?? ""]
                            let n = e?["n"]?.number ?? 0
                            add = (n * (e?["mean"]?.number ?? 0), n)
                        case .latencyMs: break  // a tail only
                        }
                    }
                    if role != "shadow" && !GateCommand.everyRole(gate) { continue }
                    guard add.n > 0 else { continue }
                    cells[key(fk, variant, segment, gi), default: Cell()].sum += add.sum
                    cells[key(fk, variant, segment, gi), default: Cell()].n += Int(add.n)
                }
            }
        }
        if source.hasPrefix("prometheus://") {
            let totals: [PrometheusSource.Total]
            do {
                totals = try PrometheusSource.totals(source, since: since.flatMap(PrometheusSource.unixTime))
            } catch {
                throw ValidationError("\(error)")
            }
            for t in totals {
                guard let fk = t.labels["flag"], let f = flags.first(where: { $0.key == fk }),
                    let name = t.labels["variant"], let role = t.labels["role"], let segment = t.labels["segment"],
                    let label = t.labels["gate"], t.n > 0
                else { continue }
                let variant = GateCommand.cellVariant(f, name, role: role)
                for (gi, gate) in f.promotionGates.enumerated() where gate.label == label {
                    if role != "shadow" && !GateCommand.everyRole(gate) { continue }
                    cells[key(fk, variant, segment, gi), default: Cell()].sum += t.sum
                    cells[key(fk, variant, segment, gi), default: Cell()].n += Int(t.n.rounded())
                }
            }
        }
        let paths = source.hasPrefix("records:") ? recordFiles(in: dir) : []
        files = paths.count
        try GateCommand.forEachGateRecord(in: paths, flags: flags) { r in
            guard let f = flags.first(where: { $0.keyBytes.elementsEqual(r.flag) }) else { return }
            if let since, r.ts.lexicographicallyPrecedes(since.utf8) { return }  // no ts: before any
            let variant = GateCommand.cellVariant(f, r.variant, role: r.role)
            let shadow = r.role == "shadow"
            for (gi, gate) in f.promotionGates.enumerated() {
                var x: Double?
                switch gate.metric {
                case .errorRate: x = r.dropped ? nil : (r.bad ? 1 : 0)
                case .latencyMs: x = r.dropped ? nil : r.latencyMs
                case .rougeL: x = shadow ? r.rougeL : nil
                case .exactMatch: x = shadow ? r.exactMatch : nil
                case .refusalRate: x = shadow ? r.shadowRefusal : nil
                case .statusMatch: x = shadow ? r.statusMatch : nil
                case .score: x = shadow ? r.scores[gate.scoreName ?? ""] : nil
                }
                guard let x else { continue }
                let observed = gate.observation(x)
                for s in r.segments {
                    cells[key(f.key, variant, s, gi), default: Cell()].sum += observed
                    cells[key(f.key, variant, s, gi), default: Cell()].n += 1
                }
            }
        }
        // Every cell the rules define counts for the correction, seen or not (no data: inconclusive).
        var rows: [(flag: Rules.Flag, variant: String, segment: String, gate: Int)] = []
        for f in flags {
            for (vi, v) in f.variants.enumerated() where vi != f.defaultVariant {
                for s in ["*"] + f.segments.map(\.name) {
                    for gi in f.promotionGates.indices { rows.append((f, v.name, s, gi)) }
                }
            }
        }
        let each = alpha / Double(rows.count)
        let from =
            source.hasPrefix("records:")
            ? "records: \(files) file(s) in \(dir)"
            : source.hasPrefix("admin://")
                ? "\(source) (10-minute windows)"
                : "\(source) (\(since.map { "since " + $0 } ?? "since the sidecars started"))"
        print(
            "\(from); alpha \(alpha) over \(rows.count) (variant, segment, gate) cells = \(fmt(each, 5)) each; intervals hold at every sample size"
        )
        print("flag\tvariant\tsegment\tgate\tn\tvalue\tinterval\tneeds\tverdict")
        var failed = false
        var inconclusive = false
        var verdicts: [(flag: String, variant: String, segment: String, verdict: GateVerdict)] = []
        for row in rows {
            let gate = row.flag.promotionGates[row.gate]
            let cell = cells[key(row.flag.key, row.variant, row.segment, row.gate)] ?? Cell()
            let reference = gate.vsBaseline != nil ? GateCommand.baseline : GateCommand.stable
            let base = cells[key(row.flag.key, reference, row.segment, row.gate)] ?? Cell()
            let isComparison = gate.vsBaseline != nil || gate.vsStable != nil
            let j = GateJudge.judge(
                gate, sum: cell.sum, n: cell.n, reference: isComparison ? (base.sum, base.n) : nil, alpha: each)
            let (n, mean, low, high, verdict) = (j.n, j.mean, j.low, j.high, j.verdict)
            let needs: String
            if let delta = gate.vsBaseline ?? gate.vsStable {
                let name = gate.vsBaseline != nil ? "baseline" : "stable"
                needs =
                    (gate.higherIsBetter ? ">= \(name) - " : "<= \(name) + ") + fmt(delta, 4) + " (\(name) n \(base.n))"
            } else {
                needs = (gate.max != nil ? "<= " : ">= ") + fmt(gate.max ?? gate.min ?? 0, 4)
            }
            if verdict == .fail { failed = true }
            if verdict == .inconclusive { inconclusive = true }
            verdicts.append((row.flag.key, row.variant, row.segment, verdict))
            let need = needs + (n < gate.minSamples ? " (n >= \(gate.minSamples))" : "")
            print(
                "\(row.flag.key)\t\(row.variant)\t\(row.segment)\t\(gate.label)\t\(n)\t\(n > 0 ? fmt(mean, 4) : "-")\t[\(fmt(low, 4)), \(fmt(high, 4))]\t\(need)\t\(verdict.rawValue)"
            )
        }
        if apply {
            for f in flags {
                guard let rollout = f.rollout else { continue }
                try applyOutcome(f, rollout, verdicts)
            }
        }
        if failed { throw ExitCode(1) }
        if inconclusive { throw ExitCode(2) }
    }

    /// `--apply` for one flag's rollout, from the verdicts of its rolled-out variant: the gate over
    /// all requests (`*`) fails → stage -1 (rolled back); a segment fails → that segment is
    /// blocked (its requests never get the variant) and the healthy ones go on; every gate of
    /// every segment not blocked passes → the next stage; anything inconclusive → the stage stays.
    private func applyOutcome(
        _ f: Rules.Flag, _ rollout: Rollout,
        _ verdicts: [(flag: String, variant: String, segment: String, verdict: GateVerdict)]
    ) throws {
        let variant = f.variants[rollout.variant].name
        let mine = verdicts.filter { $0.flag == f.key && $0.variant == variant }
        let alreadyBlocked = Set(
            f.segments.indices.filter { $0 < 64 && rollout.blocked & (1 << UInt64($0)) != 0 }.map {
                f.segments[$0].name
            })
        if mine.contains(where: { $0.segment == "*" && $0.verdict == .fail }) {
            guard rollout.stage != -1 else {
                print("\(f.key): rollout stays rolled back (stage -1)")
                return
            }
            try writeRollout(flag: f.key, stage: -1, blocked: nil)
            print(
                "\(f.key): rollout stage \(rollout.stage) -> -1 (rolled back: the gate over all requests fails) written to \(rules)"
            )
            return
        }
        var failing: [String] = []
        for v in mine
        where v.verdict == .fail && v.segment != "*" && !alreadyBlocked.contains(v.segment)
            && !failing.contains(v.segment)
        {
            failing.append(v.segment)
        }
        let healthy = mine.filter {
            $0.segment == "*" || !(alreadyBlocked.contains($0.segment) || failing.contains($0.segment))
        }
        let undecided = healthy.contains { $0.verdict == .inconclusive }
        var next = rollout.stage
        if !undecided && rollout.stage >= 0 && rollout.stage + 1 < rollout.stages.count { next = rollout.stage + 1 }
        let blocked = f.segments.map(\.name).filter { alreadyBlocked.contains($0) || failing.contains($0) }
        guard next != rollout.stage || !failing.isEmpty else {
            print(
                "\(f.key): rollout stays at stage \(rollout.stage)\(undecided ? " (inconclusive)" : rollout.stage < 0 ? " (rolled back)" : " (last stage)")"
            )
            return
        }
        try writeRollout(flag: f.key, stage: next, blocked: failing.isEmpty ? nil : blocked)
        var said =
            next == rollout.stage
            ? "\(f.key): rollout stays at stage \(next)" : "\(f.key): rollout stage \(rollout.stage) -> \(next)"
        if !failing.isEmpty { said += "; blocked \(blocked.joined(separator: ", ")) (gates fail there)" }
        print(said + " written to \(rules)")
    }

    /// Edits `flags.KEY.rollout` in the file, every other byte kept: the `stage` number, and when
    /// given, the `blocked` list (replaced, or added after `stage`). The file is swapped in with a
    /// rename (sidecars watching it never read a half-written file), after checking it loads.
    private func writeRollout(flag: String, stage: Int, blocked: [String]?) throws {
        guard var bytes = readWholeFile(rules), let root = try? JSONParser.parse(bytes),
            let rollout = root["flags"]?[flag]?["rollout"], let stageNode = rollout["stage"]
        else { throw ValidationError("cannot find flags.\(flag).rollout.stage in \(rules)") }
        func offset(_ node: JSONNode) -> Int {
            var line = 1
            var start = 0
            while line < node.line, let nl = bytes[start...].firstIndex(of: 0x0A) {
                start = nl + 1
                line += 1
            }
            return start + node.column - 1
        }
        let stageStart = offset(stageNode)
        var stageEnd = stageStart
        while stageEnd < bytes.count,
            bytes[stageEnd] == UInt8(ascii: "-") || bytes[stageEnd] == UInt8(ascii: ".")
                || (bytes[stageEnd] >= 0x30 && bytes[stageEnd] <= 0x39)
        {
            stageEnd += 1
        }
        var edits: [(range: Range<Int>, text: String)] = [(stageStart..<stageEnd, String(stage))]
        if let blocked {
            let list = "[" + blocked.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
            if let old = rollout["blocked"] {
                let start = offset(old)
                edits.append((start..<Self.valueEnd(bytes, from: start), list))
            } else {
                edits.append((stageEnd..<stageEnd, ", \"blocked\": " + list))
            }
        }
        for e in edits.sorted(by: { $0.range.lowerBound > $1.range.lowerBound }) {
            bytes.replaceSubrange(e.range, with: Array(e.text.utf8))
        }
        guard (try? RulesLoader.load(bytes)) != nil else {
            throw ValidationError("the edited rules file would not load; \(rules) left unchanged")
        }
        let temp = rules + ".modelflag-gate.tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw ValidationError("cannot write \(temp)") }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        guard written == bytes.count, rename(temp, rules) == 0 else {
            unlink(temp)
            throw ValidationError("cannot replace \(rules)")
        }
    }

    /// The end of the JSON string or array that starts at `start` (strings skipped inside arrays).
    static func valueEnd(_ b: [UInt8], from start: Int) -> Int {
        var i = start
        var depth = 0
        var inString = false
        while i < b.count {
            let c = b[i]
            if inString {
                if c == UInt8(ascii: "\\") {
                    i += 1
                } else if c == UInt8(ascii: "\"") {
                    inString = false
                    if depth == 0 { return i + 1 }
                }
            } else if c == UInt8(ascii: "\"") {
                inString = true
            } else if c == UInt8(ascii: "[") {
                depth += 1
            } else if c == UInt8(ascii: "]") {
                depth -= 1
                if depth == 0 { return i + 1 }
            }
            i += 1
        }
        return b.count
    }

    /// A cell of the verdict table: flag, variant (or `stable`/`baseline`), segment, gate index.
    struct CellKey: Hashable {
        var flag: String
        var variant: String
        var segment: String
        var gate: Int
    }

    /// The fields of one record a gate reads.
    struct GateRecord {
        var flag: ArraySlice<UInt8> = []
        var variant = ""
        var role = ""
        /// `*` and the record's segments.
        var segments: [String] = ["*"]
        var ts: ArraySlice<UInt8> = []
        var dropped = false
        /// Not `ok`, or a 5xx status.
        var bad = false
        var latencyMs: Double?
        var rougeL: Double?
        var exactMatch: Double?
        var shadowRefusal: Double?
        var statusMatch: Double?
        /// External evaluator scores by name.
        var scores: [String: Double] = [:]
    }

    /// Every record of `paths` with the fields the flags' gates read, extracted by the rules'
    /// body scanner (only those paths; no JSON tree per line: a day of records is millions of
    /// lines). Lines that are not JSON objects are skipped with a warning per file (`forEachRecordLine`).
    static func forEachGateRecord(in paths: [String], flags: [Rules.Flag], _ body: (GateRecord) -> Void) throws {
        let names = Set(flags.flatMap { $0.promotionGates.compactMap(\.scoreName) }).sorted()
        let fixed: [[String]] = [
            ["flag"], ["variant"], ["role"], ["segments"], ["ts"], ["outcome"], ["status"], ["latency_ms"],
            ["scores", "rouge_l"], ["scores", "exact_match"], ["scores", "shadow_refusal"], ["scores", "status_match"],
        ]
        let scanner = BodyScanner(paths: fixed + names.map { ["evaluator", "scores", $0] }, facts: false)
        func number(_ v: Value) -> Double? {
            if case .number(let n) = v { return n }
            return nil
        }
        func flag01(_ v: Value) -> Double? {
            if case .bool(let b) = v { return b ? 1 : 0 }
            return nil
        }
        func text(_ v: Value) -> String {
            if case .string(let s) = v { return String(decoding: s, as: UTF8.self) }
            return ""
        }
        try forEachRecordLine(in: paths) { line in
            let facts = scanner.scan(Array(line), limit: line.count)
            guard facts.parsed else { return false }
            let v = facts.values
            guard case .string(let flag) = v[0], case .string = v[1] else { return true }
            var r = GateRecord()
            r.flag = flag
            r.variant = text(v[1])
            r.role = text(v[2])
            if case .array(let list) = v[3] {
                for item in list {
                    if case .string(let s) = item { r.segments.append(String(decoding: s, as: UTF8.self)) }
                }
            }
            if case .string(let ts) = v[4] { r.ts = ts }
            let outcome = text(v[5])
            r.dropped = outcome == "dropped"
            r.bad = outcome != "ok" || (number(v[6]) ?? 0) >= 500
            r.latencyMs = number(v[7])
            r.rougeL = number(v[8])
            r.exactMatch = flag01(v[9])
            r.shadowRefusal = flag01(v[10])
            r.statusMatch = flag01(v[11])
            for (i, name) in names.enumerated() { if let n = number(v[fixed.count + i]) { r.scores[name] = n } }
            body(r)
            return true
        }
    }

    private func fmt(_ v: Double, _ digits: Int) -> String {
        guard v.isFinite else { return "-" }
        var p = 1.0
        for _ in 0..<digits { p *= 10 }
        return String((v * p).rounded() / p)
    }
}
