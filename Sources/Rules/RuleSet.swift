/// One model server the rules can route to.
public struct UpstreamSpec: Sendable, Equatable {
    public var name: String
    /// `HOST:PORT`.
    public var address: String
    /// What output records carry as the version of the model that answered.
    public var modelVersion: String
    /// When set, the request body's `"model"` is rewritten to this before forwarding.
    public var model: String?
}

/// Which requests a flag governs.
public struct FlagMatch: Sendable {
    /// Request paths starting with this (default: every path).
    public var pathPrefix: String?
    /// Requests whose body `"model"` is one of these aliases (default: any).
    public var models: [String]?

    public func matches(path: ArraySlice<UInt8>, model: Value) -> Bool {
        if let p = pathPrefix, !RuleText.hasPrefix(path, p) { return false }
        if let models {
            guard case .string(let m) = model else { return false }
            return models.contains { RuleText.equal(m, $0) }
        }
        return true
    }
}

/// One flag of a loaded rule set. A class: every request reads its flag several times (routing,
/// response headers, the record), and copying a struct of this many arrays and strings retained
/// each of them every time. What the file says is fixed at init; gates, rollout, evaluator,
/// tripwires and the compiled program are set by the loader and `RuleSet.init` before the rule
/// set is published, then never changed (the tripwires guard their own counters), hence
/// `@unchecked Sendable`.
public final class Flag: @unchecked Sendable {
    public let key: String
    public let keyBytes: [UInt8]
    /// DISABLED is the kill switch: every request goes to `defaultVariant`.
    public let enabled: Bool
    /// Variant name → index into `RuleSet.upstreams`.
    public let variants: [(name: String, upstream: Int)]
    public let defaultVariant: Int
    public let targeting: Expr?
    public let match: FlagMatch
    /// Mirroring to candidate variants, if any.
    public let shadow: ShadowSpec?
    /// What records keep of bodies.
    public let capture: CaptureSpec
    /// The `$evaluators` segments this flag's targeting references, in first-use order: records
    /// and statistics name the ones a request matched.
    public let segments: [(name: String, rule: Expr)]
    /// Per variant (same order as `variants`): its confidence gate, when its value is a gate object.
    public internal(set) var gates: [ConfidenceGate?] = []
    /// External evaluator for shadow pairs.
    public internal(set) var evaluator: EvaluatorSpec?
    /// Staged rollout of a variant where targeting gives none.
    public internal(set) var rollout: Rollout?
    /// Promotion gates (`gates`), for `modelflag gate`.
    public internal(set) var promotionGates: [PromotionGate] = [] {
        didSet { promotionGateLabels = promotionGates.map(\.label) }
    }
    /// Each promotion gate's `label`, made once: the statistics count by label on every exchange.
    public private(set) var promotionGateLabels: [String] = []
    /// Local rollback tripwires (`rollbackOn`), state included: they live as long as these rules.
    public internal(set) var tripwires: [Tripwire] = []
    init(
        key: String, keyBytes: [UInt8], enabled: Bool, variants: [(name: String, upstream: Int)], defaultVariant: Int,
        targeting: Expr?, match: FlagMatch, shadow: ShadowSpec?, capture: CaptureSpec,
        segments: [(name: String, rule: Expr)]
    ) {
        self.key = key
        self.keyBytes = keyBytes
        self.enabled = enabled
        self.variants = variants
        self.defaultVariant = defaultVariant
        self.targeting = targeting
        self.match = match
        self.shadow = shadow
        self.capture = capture
        self.segments = segments
        var lines: [[UInt8]] = []
        for v in variants {
            var line = Array("X-ModelFlag-Flag: ".utf8)
            line += keyBytes
            line += Array("\r\nX-ModelFlag-Variant: ".utf8)
            line += Array(v.name.utf8)
            line += [0x0D, 0x0A]
            lines.append(line)
        }
        let total = lines.reduce(0) { $0 + $1.count }
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: max(total, 1), alignment: 1)
        var offset = 0
        var spans: [UnsafeRawBufferPointer] = []
        for line in lines {
            line.withUnsafeBytes {
                (memory.baseAddress! + offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count)
            }
            spans.append(UnsafeRawBufferPointer(start: memory.baseAddress! + offset, count: line.count))
            offset += line.count
        }
        headerMemory = memory
        variantHeaderLines = spans
    }

    deinit { headerMemory.deallocate() }

    /// Holds `variantHeaderLines`: plain memory, so writing them into a response touches no
    /// reference count (the request's route keeps these rules, and so this memory, alive).
    private let headerMemory: UnsafeMutableRawBufferPointer
    /// Per variant (same order as `variants`): the response header lines naming this flag and
    /// the variant, `X-ModelFlag-Flag: KEY\r\nX-ModelFlag-Variant: NAME\r\n`. Valid while this
    /// flag lives. (The loader rejects names with control characters.)
    public let variantHeaderLines: [UnsafeRawBufferPointer]

    /// The names of the segments set in `mask` (from `RuleSet.matchedSegments`), in flag order.
    public func segmentNames(_ mask: UInt64) -> [String] {
        guard mask != 0 else { return [] }
        return segments.prefix(64).enumerated().compactMap { i, seg in mask & (1 << UInt64(i)) != 0 ? seg.name : nil }
    }
    /// The targeting as a program (nil: the tree evaluator runs it). Set by `RuleSet`.
    public internal(set) var program: Program? = nil
    /// Each of `segments` as a program (empty when one of them is not expressible: the tree
    /// evaluator runs them all). Set by `RuleSet`.
    public internal(set) var segmentPrograms: [Program] = []
}

/// Where the targeting key comes from, tried in order.
public enum KeySource: Sendable, Equatable, CustomStringConvertible {
    case header(String)
    case body([String])

    public var description: String {
        switch self {
        case .header(let h): return "header:\(h)"
        case .body(let p): return "body:" + p.joined(separator: ".")
        }
    }
}

/// A loaded, validated, compiled rules file. Immutable: a reload builds a new one and swaps a
/// reference; requests in flight keep the one they started with.
public final class RuleSet: Sendable {
    public let revision: String
    public let upstreams: [UpstreamSpec]
    public let defaultUpstream: Int
    public let flags: [Flag]
    public let keySources: [KeySource]
    /// Each key source's `description`, made once: every record names the one a request used.
    public let keySourceNames: [String]
    /// Names as JSON string literals, for output records.
    public let literals: NameLiterals
    /// JSON body paths any rule (or the key chain) reads; the body scanner extracts only these.
    public let bodyPaths: [[String]]
    /// Some rule reads `request.*` facts or matches on the body's model.
    public let needsFacts: Bool
    /// Some flag matches requests by their body's `"model"` (only then is it read per request).
    let matchesByModel: Bool
    /// Add `X-ModelFlag-Flag` / `X-ModelFlag-Variant` to responses.
    public let responseHeaders: Bool
    /// Largest body prefix inspected for rules (bytes).
    public let inspectLimit: Int
    public let segmentNames: [String]
    /// Context keys the programs read, in slot order (slot 0 is the targeting key), and for body
    /// keys their index in `bodyPaths` (-1 otherwise).
    public let slotKeys: [ContextKey]
    let slotBodyIndex: [Int]

    init(
        revision: String, upstreams: [UpstreamSpec], defaultUpstream: Int, flags: [Flag], keySources: [KeySource],
        bodyPaths: [[String]], needsFacts: Bool, responseHeaders: Bool, inspectLimit: Int, segmentNames: [String]
    ) {
        self.revision = revision
        self.upstreams = upstreams
        self.defaultUpstream = defaultUpstream
        let compiled = flags
        var slots: [ContextKey] = [.targetingKey]
        for i in compiled.indices {
            guard let t = compiled[i].targeting else { continue }
            var c = ProgramCompiler(flagKey: compiled[i].keyBytes, slots: slots)
            compiled[i].program = c.compile(t)
            if compiled[i].program != nil { slots = c.slots }
        }
        // Segments too, over the same slots: records and statistics evaluate them on every exchange.
        // (A compiler makes one program: a new one per segment, the slots carried over.)
        for i in compiled.indices where !compiled[i].segments.isEmpty {
            var segmentSlots = slots
            var programs: [Program] = []
            for segment in compiled[i].segments.prefix(64) {
                var c = ProgramCompiler(flagKey: compiled[i].keyBytes, slots: segmentSlots)
                guard let p = c.compile(segment.rule) else { break }
                programs.append(p)
                segmentSlots = c.slots
            }
            guard programs.count == min(64, compiled[i].segments.count) else { continue }
            compiled[i].segmentPrograms = programs
            slots = segmentSlots
        }
        self.flags = compiled
        slotKeys = slots
        slotBodyIndex = slots.map { key in
            if case .body(let p) = key { return bodyPaths.firstIndex(of: p) ?? -1 }
            return -1
        }
        self.keySources = keySources
        keySourceNames = keySources.map(\.description)
        literals = NameLiterals(
            flags: compiled, upstreams: upstreams, revision: revision, keySources: keySourceNames)
        self.bodyPaths = bodyPaths
        self.needsFacts = needsFacts
        matchesByModel = flags.contains { $0.match.models != nil }
        self.responseHeaders = responseHeaders
        self.inspectLimit = inspectLimit
        self.segmentNames = segmentNames
    }

    /// Whether routing needs the request body scanned at all.
    public var needsBody: Bool { needsFacts || !bodyPaths.isEmpty }

    /// Some flag's decision depends on the targeting key: targeting (a `fractional` split, a rule
    /// on the key), a rollout stage, or a shadow sample below 100 % that is sticky by key.
    public var keyDecides: Bool {
        flags.contains { f in
            f.targeting != nil || f.rollout != nil
                || f.shadow.map { $0.percentage > 0 && $0.percentage < 100 && $0.sampleBy == .targetingKey } == true
        }
    }

    /// The rules themselves read the body (paths in targeting or segments, chat facts, the model
    /// field); otherwise only a `body:` targeting key source would.
    public var rulesReadBody: Bool {
        needsFacts || bodyPaths.contains { p in !keySources.contains { $0 == .body(p) } }
    }
}

/// The routing decision for one request.
public struct Decision: Sendable {
    public enum Reason: String, Sendable {
        /// No flag governs the request: the default upstream.
        case noFlag = "NO_FLAG"
        /// The flag is DISABLED (kill switch): its default variant.
        case disabled = "DISABLED"
        /// Targeting chose the variant.
        case targetingMatch = "TARGETING_MATCH"
        /// Targeting gave nothing (null, or no targeting): the default variant.
        case defaultVariant = "DEFAULT"
        /// Targeting named a variant the flag does not have: the default variant.
        case error = "ERROR"
        /// Targeting gave nothing and the flag's rollout stage sent the request to its variant.
        case rollout = "ROLLOUT"
    }

    public var flag: Int?
    public var variant: Int
    public var upstream: Int
    public var reason: Reason

    public init(flag: Int?, variant: Int, upstream: Int, reason: Reason) {
        self.flag = flag
        self.variant = variant
        self.upstream = upstream
        self.reason = reason
    }
}

extension RuleSet {
    /// `decide` for the request path: compiled programs, no trace.
    public func decideFast<C: EvaluationContext>(path: ArraySlice<UInt8>, context: C, scratch: EvalScratch) -> Decision
    {
        let model = needsFacts && matchesByModel ? context.lookup(.fact(.model)) : .null
        for index in flags.indices where flags[index].match.matches(path: path, model: model) {
            return evaluateFast(index, context: context, scratch: scratch)
        }
        return Decision(flag: nil, variant: -1, upstream: defaultUpstream, reason: .noFlag)
    }

    /// `decideFast` and the governing flag's matched segments (what records and statistics want):
    /// when the decision ran the flag's program, the segments' programs run over the slots it just
    /// loaded instead of loading them again.
    public func decideFastWithSegments<C: EvaluationContext>(
        path: ArraySlice<UInt8>, context: C, scratch: EvalScratch
    ) -> (decision: Decision, segments: UInt64) {
        let d = decideFast(path: path, context: context, scratch: scratch)
        guard let f = d.flag else { return (d, 0) }
        return (d, matchedSegmentsFast(f, context: context, scratch: scratch, slotsLoaded: usesProgram(f)))
    }

    /// `matchedSegments` through the segments' programs when the flag has them (the same bits).
    public func matchedSegmentsFast<C: EvaluationContext>(_ index: Int, context: C, scratch: EvalScratch) -> UInt64 {
        matchedSegmentsFast(index, context: context, scratch: scratch, slotsLoaded: false)
    }

    /// `slotsLoaded`: `scratch` already holds this context's slots (`evaluateFast` ran a program).
    private func matchedSegmentsFast<C: EvaluationContext>(
        _ index: Int, context: C, scratch: EvalScratch, slotsLoaded: Bool
    ) -> UInt64 {
        let programs = flags[index].segmentPrograms
        guard !programs.isEmpty else { return matchedSegments(index, context: context) }
        let depth = programs.reduce(0) { max($0, $1.stackDepth) }
        if slotsLoaded {
            scratch.reserve(slots: slotKeys.count, stack: depth)
        } else {
            loadSlots(context, into: scratch, stack: depth)
        }
        var matched: UInt64 = 0
        for (i, program) in programs.enumerated() where program.runTruthy(scratch) { matched |= 1 << UInt64(i) }
        return matched
    }

    /// Whether `evaluateFast` runs the flag's program (and so loads the slots) rather than the tree.
    private func usesProgram(_ index: Int) -> Bool {
        flags[index].enabled && flags[index].targeting != nil && flags[index].program != nil
    }

    /// Every slot's value for this request, into `scratch`.
    private func loadSlots<C: EvaluationContext>(_ context: C, into scratch: EvalScratch, stack: Int) {
        scratch.reserve(slots: slotKeys.count, stack: stack)
        scratch.beginSlots()
        for i in slotKeys.indices {
            let bi = slotBodyIndex[i]
            scratch.store(
                bi >= 0 ? context.bodyValue(pathIndex: bi, key: slotKeys[i]) : context.lookup(slotKeys[i]), at: i)
        }
    }

    /// `evaluate` through the flag's program when it has one (the same decision, faster).
    public func evaluateFast<C: EvaluationContext>(_ index: Int, context: C, scratch: EvalScratch) -> Decision {
        guard usesProgram(index), let program = flags[index].program else {
            // (No targeting, a disabled flag, or no program: the tree path, rollout included.)
            var trace: Trace?
            return evaluate(index, context: context, trace: &trace)
        }
        loadSlots(context, into: scratch, stack: program.stackDepth)
        let result = program.run(scratch)
        let defaultVariant = flags[index].defaultVariant
        var decision = Decision(
            flag: index, variant: defaultVariant, upstream: flags[index].variants[defaultVariant].upstream,
            reason: .defaultVariant)
        let name: UnsafeRawBufferPointer
        switch result.tag {
        case .string: name = result.bytes
        case .bool:
            let s: StaticString = result.num != 0 ? "true" : "false"
            name = UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)
        case .null: return rolloutDecision(index, context: context) ?? decision
        default:
            decision.reason = .error
            return decision
        }
        for vi in flags[index].variants.indices where RuleText.equal(name, flags[index].variants[vi].name) {
            return Decision(
                flag: index, variant: vi, upstream: flags[index].variants[vi].upstream, reason: .targetingMatch)
        }
        decision.reason = .error
        return decision
    }

    /// Bit i set when the request matches `flags[index].segments[i]` (the first 64): what records,
    /// statistics and rollout stages call the request's segments.
    public func matchedSegments<C: EvaluationContext>(_ index: Int, context: C) -> UInt64 {
        var matched: UInt64 = 0
        for (i, seg) in flags[index].segments.prefix(64).enumerated() {
            var ev = Evaluator(context: context, flagKey: flags[index].keyBytes)
            if ev.eval(seg.rule).truthy { matched |= 1 << UInt64(i) }
        }
        return matched
    }

    /// Where targeting gave nothing: the rollout stage's share for the request's segments, sticky
    /// by targeting key (no key: not in the rollout).
    func rolloutDecision<C: EvaluationContext>(_ index: Int, context: C) -> Decision? {
        guard let rollout = flags[index].rollout, case .string(let key) = context.lookup(.targetingKey) else {
            return nil
        }
        let percent = rollout.percent(matched: matchedSegments(index, context: context))
        guard Rollout.inside(flagKey: flags[index].keyBytes, key: key, percent: percent) else { return nil }
        return Decision(
            flag: index, variant: rollout.variant, upstream: flags[index].variants[rollout.variant].upstream,
            reason: .rollout)
    }

    /// Picks the flag governing the request (the first whose `match` fits) and evaluates it.
    public func decide<C: EvaluationContext>(path: ArraySlice<UInt8>, context: C, trace: inout Trace?) -> Decision {
        let model = needsFacts ? context.lookup(.fact(.model)) : .null
        for (index, flag) in flags.enumerated() where flag.match.matches(path: path, model: model) {
            return evaluate(index, context: context, trace: &trace)
        }
        return Decision(flag: nil, variant: -1, upstream: defaultUpstream, reason: .noFlag)
    }

    public func evaluate<C: EvaluationContext>(_ index: Int, context: C, trace: inout Trace?) -> Decision {
        let flag = flags[index]
        let fallback = Decision(
            flag: index, variant: flag.defaultVariant, upstream: flag.variants[flag.defaultVariant].upstream,
            reason: .defaultVariant)
        guard flag.enabled else {
            var d = fallback
            d.reason = .disabled
            return d
        }
        guard let targeting = flag.targeting else { return rolloutDecision(index, context: context) ?? fallback }
        var ev = Evaluator(context: context, flagKey: flag.keyBytes, tracing: trace != nil)
        let result = ev.eval(targeting)
        if trace != nil { trace = ev.trace }
        let name: ArraySlice<UInt8>
        switch result {
        case .string(let s): name = s
        case .bool(let b): name = ArraySlice((b ? "true" : "false").utf8)
        case .null: return rolloutDecision(index, context: context) ?? fallback
        default:
            var d = fallback
            d.reason = .error
            return d
        }
        for (vi, v) in flag.variants.enumerated() where RuleText.equal(name, v.name) {
            return Decision(flag: index, variant: vi, upstream: v.upstream, reason: .targetingMatch)
        }
        var d = fallback
        d.reason = .error
        return d
    }
}
