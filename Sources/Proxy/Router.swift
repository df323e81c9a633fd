import HTTP1
import HTTPServer
import Rules
import UVCore

/// The routing decision for one request, kept by the exchange until it ends: the rules it was
/// decided under stay alive with it, so a reload never changes a request in flight.
///
/// A class, immutable once `Router.route` returns it: the exchange, its record, its shadow copies
/// and a gate's held answer all keep it, and each copy of a struct with this many references
/// retained every one of them (about 0.25 µs per request, measured).
final class Route {
    let pool: UpstreamPool
    let rules: RuleSet?
    let flag: Int?
    let variant: Int
    /// Where the body's `"model"` string sits and what replaces it, when the chosen upstream asks.
    let splice: (range: Range<Int>, replacement: [UInt8])?
    /// Which `targetingKey` source supplied the key (index into `rules.keySources`), for records.
    let keySource: Int?
    /// Records only: the first 64 bits of SHA-256 of the key (records never carry the key itself).
    fileprivate(set) var keyHash: UInt64 = 0
    /// Records only: bit i set when `flag.segments[i]` matched the request.
    fileprivate(set) var segments: UInt64 = 0
    /// Where the body's `"model"` string sits (a shadow upstream may rewrite it too).
    fileprivate(set) var modelRange: Range<Int>?
    /// Whether the request asked for JSON (a top-level `response_format`), when its body was
    /// scanned for facts; nil when it was not (the shadow scorer then searches the body itself).
    fileprivate(set) var asksForJSON: Bool?
    /// The request's sticky shadow-sample bucket (flags with `shadow` and a targeting key only).
    fileprivate(set) var shadowBucket: UInt32?
    /// The variant targeting chose when a tripped rollback wire sent the request to the default.
    fileprivate(set) var rolledBackFrom: Int?
    /// For a confidence-gated variant: where the request goes when the gate says no (resolved
    /// with the rules the request started with).
    fileprivate(set) var fallbackPool: UpstreamPool?
    fileprivate(set) var fallbackSplice: (range: Range<Int>, replacement: [UInt8])?
    /// The gate's threshold for this request: the rollout stage's for the request's segment when
    /// it sets one, else the variant's own.
    fileprivate(set) var gateThreshold = 0.0
    /// The `X-ModelFlag-Flag` and `X-ModelFlag-Variant` response header lines, when the rules
    /// send them (memory of `rules`, which this route keeps alive).
    let headerLines: UnsafeRawBufferPointer?

    init(
        pool: UpstreamPool, rules: RuleSet?, flag: Int?, variant: Int,
        splice: (range: Range<Int>, replacement: [UInt8])?, keySource: Int?
    ) {
        self.pool = pool
        self.rules = rules
        self.flag = flag
        self.variant = variant
        self.splice = splice
        self.keySource = keySource
        if let rules, rules.responseHeaders, let flag {
            headerLines = rules.flags[flag].variantHeaderLines[variant]
        } else {
            headerLines = nil
        }
    }

    /// The same request sent to the gate's fallback variant instead.
    func fallingBack(to variant: Int) -> Route? {
        guard let pool = fallbackPool else { return nil }
        let r = Route(
            pool: pool, rules: rules, flag: flag, variant: variant, splice: fallbackSplice, keySource: keySource)
        r.keyHash = keyHash
        r.segments = segments
        r.modelRange = modelRange
        r.asksForJSON = asksForJSON
        return r
    }
}

/// Per worker: the rules in force and one connection pool per upstream address.
///
/// Loop-confined. `install` swaps in a new rule set (built off the loop); pools are kept by
/// address across reloads, so kept-alive connections survive a reload that does not move them.
final class Router {
    let loop: Loop
    let metrics: Metrics
    private let base: UpstreamConfig
    private(set) var rules: RuleSet?
    private var pools: [UpstreamPool] = []
    private var poolsByAddress: [String: UpstreamPool] = [:]
    /// Shadow traffic has pools of its own: a slow candidate never holds a served request's socket.
    private(set) var shadowPools: [UpstreamPool] = []
    private var shadowPoolsByAddress: [String: UpstreamPool] = [:]
    private var scanner: BodyScanner?
    /// The compiled evaluator's reusable memory (this loop only).
    private let scratch = EvalScratch()
    /// Without rules every request takes the same route (one object, not one per request).
    private var noRulesRoute: Route?
    /// The scan's output, reused from request to request (its values array is not reallocated).
    private var factsStore = BodyFacts()
    /// Per upstream of the rules: its `model` as JSON string content (escaped), when it rewrites.
    private var modelBytes: [[UInt8]?] = []

    let flagCounters: FlagCounters
    /// Output records are on: routes also carry the key hash and the matched segments.
    var recordDetails = false
    /// The current rules scan the body only for the targeting key, and decide nothing by it.
    private var keyOnlyScan = false
    /// flag × variant × reason (`FlagCounters.reasons` order) for the installed rules.
    private var counterTable: [[[Counter]]] = []

    init(loop: Loop, base: UpstreamConfig, metrics: Metrics, flagCounters: FlagCounters) {
        self.loop = loop
        self.base = base
        self.metrics = metrics
        self.flagCounters = flagCounters
        pools = [pool(for: base.address)]
    }

    private func pool(for address: SocketAddress, shadow: Bool = false) -> UpstreamPool {
        let key = address.description
        if let p = shadow ? shadowPoolsByAddress[key] : poolsByAddress[key] { return p }
        var config = base
        config.address = address
        let p = UpstreamPool(loop: loop, config: config, metrics: metrics)
        if shadow { shadowPoolsByAddress[key] = p } else { poolsByAddress[key] = p }
        return p
    }

    /// A pool for an evaluator's `HOST:PORT` (resolved on first use, then kept).
    private var evaluatorPools: [String: UpstreamPool] = [:]
    func evaluatorPool(_ address: String?) -> UpstreamPool? {
        guard let address else { return nil }
        if let p = evaluatorPools[address] { return p }
        guard let resolved = try? SocketAddress(address) else { return nil }
        var config = base
        config.address = resolved
        let p = UpstreamPool(loop: loop, config: config, metrics: metrics)
        evaluatorPools[address] = p
        return p
    }

    /// The `"model"` rewrite for a request sent to `upstream` (nil: the body goes as it is).
    func splice(upstream: Int, range: Range<Int>?) -> (range: Range<Int>, replacement: [UInt8])? {
        guard let range, let model = modelBytes[upstream] else { return nil }
        return (range, model)
    }

    /// Makes `update` the rules for new requests (addresses were resolved off the loop).
    func install(_ update: RulesUpdate) {
        pools = update.addresses.map { pool(for: $0) }
        shadowPools =
            update.rules.flags.contains { $0.shadow != nil } ? update.addresses.map { pool(for: $0, shadow: true) } : []
        modelBytes = update.rules.upstreams.map { u in
            u.model.map { m in
                var escaped: [UInt8] = []
                JSONText.appendString(&escaped, m.utf8)
                return Array(escaped.dropFirst().dropLast())
            }
        }
        counterTable = update.rules.flags.map { flag in
            flag.variants.map { v in
                FlagCounters.reasons.map { flagCounters.counter(flag: flag.key, variant: v.name, reason: $0) }
            }
        }
        rules = update.rules
        scanner =
            update.rules.needsBody ? BodyScanner(paths: update.rules.bodyPaths, facts: update.rules.needsFacts) : nil
        keyOnlyScan = !update.rules.rulesReadBody && !update.rules.keyDecides
    }

    func route(_ head: RequestHead, body: [UInt8]) -> Route {
        guard let rules else {
            if noRulesRoute?.pool !== pools[0] {
                noRulesRoute = Route(pool: pools[0], rules: nil, flag: nil, variant: -1, splice: nil, keySource: nil)
            }
            return noRulesRoute!
        }
        var facts = BodyFacts()
        swap(&facts, &factsStore)
        // A body scanned only for a `body:` key that nothing uses (no records, no split, no
        // sticky sample: e.g. mirroring everything) is not scanned.
        if let scanner, recordDetails || !keyOnlyScan {
            scanner.scan(body, limit: rules.inspectLimit, into: &facts)
            if !facts.parsed && !body.isEmpty {
                metrics.bodyUninspected[facts.tooLarge ? 1 : 0].add()
            }
        } else {
            facts.reset(pathCount: 0)
        }
        let route = decide(rules, head, body: body, facts: facts)
        // No slice of this body is kept until the next request (the connection reuses its buffer).
        facts.reset(pathCount: facts.values.count)
        swap(&facts, &factsStore)
        return route
    }

    /// The routing decision for a request whose body was scanned into `facts`.
    private func decide(_ rules: RuleSet, _ head: RequestHead, body: [UInt8], facts: BodyFacts) -> Route {
        let path = Router.pathOf(head)
        let (key, keySource) = Router.keyAndSource(rules, head, facts)
        return RequestContext.with(
            head: head, facts: facts, bodyPaths: rules.bodyPaths, targetingKey: key, path: path, bodyBytes: body.count
        ) { context in
            decide(rules, context, path: path, key: key, keySource: keySource, facts: facts)
        }
    }

    private func decide(
        _ rules: RuleSet, _ context: RequestContext, path: ArraySlice<UInt8>, key: Value, keySource: Int?,
        facts: BodyFacts
    ) -> Route {
        // Records and statistics also need the matched segments: evaluated with the decision.
        var d: Decision
        var segments: UInt64 = 0
        if recordDetails {
            (d, segments) = rules.decideFastWithSegments(path: path, context: context, scratch: scratch)
        } else {
            d = rules.decideFast(path: path, context: context, scratch: scratch)
        }
        var rolledBackFrom: Int?
        if let f = d.flag, !rules.flags[f].tripwires.isEmpty, d.variant != rules.flags[f].defaultVariant,
            rules.flags[f].tripwires.contains(where: { $0.variant == d.variant && $0.isTripped })
        {
            // A tripped wire: this pod sends the variant no more traffic until the rules change.
            rolledBackFrom = d.variant
            d.variant = rules.flags[f].defaultVariant
            d.upstream = rules.flags[f].variants[d.variant].upstream
        }
        if let f = d.flag {
            let r: Int
            switch d.reason {
            case .targetingMatch, .rollout: r = 0
            case .defaultVariant: r = 1
            case .disabled: r = 2
            default: r = 3
            }
            counterTable[f][d.variant][r].add()
        } else {
            flagCounters.unflagged.add()
        }
        var splice: (range: Range<Int>, replacement: [UInt8])?
        if let model = modelBytes[d.upstream], let range = facts.modelRange {
            splice = (range, model)
        }
        let route = Route(
            pool: pools[d.upstream], rules: rules, flag: d.flag, variant: d.variant, splice: splice,
            keySource: keySource)
        route.modelRange = facts.modelRange
        if rules.needsFacts && facts.parsed { route.asksForJSON = facts.hasResponseFormat }
        route.rolledBackFrom = rolledBackFrom
        // The matched segments, evaluated once: records and statistics need them, and so does a
        // rollout stage that sets a gated variant's threshold.
        route.segments = segments
        if let f = d.flag, !rules.flags[f].gates.isEmpty, let gate = rules.flags[f].gates[d.variant] {
            let fb = rules.flags[f].variants[gate.fallback].upstream
            route.fallbackPool = pools[fb]
            route.fallbackSplice = self.splice(upstream: fb, range: facts.modelRange)
            route.gateThreshold = gate.threshold
            if let rollout = rules.flags[f].rollout, rollout.variant == d.variant,
                let t = rollout.threshold(
                    matched: recordDetails
                        ? route.segments : rules.matchedSegmentsFast(f, context: context, scratch: scratch))
            {
                route.gateThreshold = t
            }
        }
        if let f = d.flag, rules.flags[f].shadow != nil, case .string(let k) = key {
            var h = Murmur3(seed: Router.shadowSeed)
            h.add(rules.flags[f].keyBytes)
            h.add(k)
            route.shadowBucket = h.finalize()
        }
        if recordDetails {
            if case .string(let k) = key { route.keyHash = Router.keyHash(k) }
        }
        return route
    }

    /// Seed of the shadow-sample hash ("SHDW"): independent of `fractional` (seed 0), so being in
    /// the shadow sample says nothing about which side of a split a user is on.
    static let shadowSeed: UInt32 = 0x5348_4457

    static func keyHash(_ key: ArraySlice<UInt8>) -> UInt64 {
        key.withUnsafeBytes { p in
            SHA256.prefix64(UnsafeRawBufferPointer(p))
        }
    }

    static func pathOf(_ head: RequestHead) -> ArraySlice<UInt8> {
        let t = head.target
        let query = head.bytes.withUnsafeBytes { ByteSearch.find("?", in: UnsafeRawBufferPointer(rebasing: $0[t])) }
        return head.bytes[t.lowerBound..<(query.map { t.lowerBound + $0 } ?? t.upperBound)]
    }

    /// The first key source that has a non-empty value.
    /// The targeting key and the index in `rules.keySources` it came from (nil: none had a value).
    /// Output records carry which source was used (and a hash of the value, never the value).
    static func keyAndSource(_ rules: RuleSet, _ head: RequestHead, _ facts: BodyFacts) -> (key: Value, source: Int?) {
        for (index, source) in rules.keySources.enumerated() {
            switch source {
            case .header(let name):
                if case .string(let s) = RequestContext.header(head, name), !s.isEmpty { return (.string(s), index) }
            case .body(let p):
                if let i = rules.bodyPaths.firstIndex(of: p), i < facts.values.count,
                    case .string(let s) = facts.values[i],
                    !s.isEmpty
                {
                    return (.string(s), index)
                }
            }
        }
        return (.null, nil)
    }

    func closeIdle() {
        for p in poolsByAddress.values { p.closeIdle() }
        for p in shadowPoolsByAddress.values { p.closeIdle() }
        for p in evaluatorPools.values { p.closeIdle() }
    }
}

/// Routing without sockets, for the benchmark: the same scan, context and decision as `Router.route`.
public enum RoutingBench {
    /// Parses `head` once, then decides `iterations` times; returns nanoseconds per decision and
    /// the variant chosen last (so the work cannot be optimized away).
    public static func run(rules: RuleSet, head: [UInt8], body: [UInt8], iterations: Int) -> (
        nsPerOp: Double, variant: String
    ) {
        let parsed = head.withUnsafeBytes { p in
            Result { () throws(HTTPError) in try RequestHead.parse(p, limits: Limits()) }
        }
        guard case .success(let request) = parsed else { return (0, "bad head") }
        let scanner = rules.needsBody ? BodyScanner(paths: rules.bodyPaths, facts: rules.needsFacts) : nil
        let scratch = EvalScratch()
        var last = Decision(flag: nil, variant: -1, upstream: 0, reason: .noFlag)
        let start = Loop.hrtime()
        var facts = BodyFacts()
        for _ in 0..<iterations {
            if let scanner { scanner.scan(body, limit: rules.inspectLimit, into: &facts) }
            let path = Router.pathOf(request)
            last = RequestContext.with(
                head: request, facts: facts, bodyPaths: rules.bodyPaths,
                targetingKey: Router.keyAndSource(rules, request, facts).key, path: path, bodyBytes: body.count
            ) { context in
                rules.decideFast(path: path, context: context, scratch: scratch)
            }
        }
        let ns = Double(Loop.hrtime() - start) / Double(iterations)
        let name = last.flag.map { rules.flags[$0].variants[last.variant].name } ?? "none"
        return (ns, name)
    }
}
