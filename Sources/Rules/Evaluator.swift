/// What targeting reads: the request's values by `ContextKey`. Implemented by the proxy over the
/// request's head and scanned body (no copies), and by tests over plain dictionaries.
public protocol EvaluationContext {
    func lookup(_ key: ContextKey) -> Value
    /// The body value at `RuleSet.bodyPaths[pathIndex]` (`key` is that path), for contexts that
    /// can answer by index instead of comparing paths.
    func bodyValue(pathIndex: Int, key: ContextKey) -> Value
}

extension EvaluationContext {
    public func bodyValue(pathIndex: Int, key: ContextKey) -> Value { lookup(key) }
}

/// What `explain` shows: each step with its value.
public struct Trace: Sendable {
    public var lines: [String] = []
    public var bucket: (hash: UInt32, bucket: UInt64, total: UInt64)?
    public var segments: [(name: String, matched: Bool)] = []
    public init() {}
}

/// Evaluates compiled targeting. Pure: the same expression and context give the same value.
public struct Evaluator<C: EvaluationContext> {
    let context: C
    let flagKey: [UInt8]
    public var trace: Trace?

    public init(context: C, flagKey: [UInt8], tracing: Bool = false) {
        self.context = context
        self.flagKey = flagKey
        trace = tracing ? Trace() : nil
    }

    public mutating func eval(_ e: Expr) -> Value {
        switch e {
        case .literal(let v):
            return v
        case .variable(let key, let fallback):
            let v: Value
            if case .flagKey = key {
                v = .string(flagKey[...])
            } else {
                v = context.lookup(key)
            }
            if case .null = v, let fallback { return eval(fallback) }
            if trace != nil {
                let text = "var \(key) = \(describe(v))"
                trace?.lines.append(text)
            }
            return v
        case .ifChain(let parts):
            var i = 0
            while i + 1 < parts.count {
                if eval(parts[i]).truthy { return eval(parts[i + 1]) }
                i += 2
            }
            return i < parts.count ? eval(parts[i]) : .null
        case .and(let parts):
            var last = Value.null
            for p in parts {
                last = eval(p)
                if !last.truthy { return last }
            }
            return last
        case .or(let parts):
            var last = Value.null
            for p in parts {
                last = eval(p)
                if last.truthy { return last }
            }
            return last
        case .not(let x):
            return .bool(!eval(x).truthy)
        case .truthy(let x):
            return .bool(eval(x).truthy)
        case .compare(let op, let args):
            let result = compare(op, args)
            return .bool(result)
        case .contains(let needle, let haystack):
            let n = eval(needle)
            switch eval(haystack) {
            case .string(let s):
                guard case .string(let sub) = n else { return .bool(false) }
                return .bool(contains(s, sub))
            case .array(let items):
                return .bool(items.contains { $0.looselyEquals(n) })
            default:
                return .bool(false)
            }
        case .startsWith(let a, let b):
            guard case .string(let s) = eval(a), case .string(let p) = eval(b) else { return .bool(false) }
            return .bool(s.starts(with: p))
        case .endsWith(let a, let b):
            guard case .string(let s) = eval(a), case .string(let p) = eval(b) else { return .bool(false) }
            return .bool(s.count >= p.count && s.suffix(p.count).elementsEqual(p))
        case .cat(let parts):
            var out: [UInt8] = []
            for p in parts { out.append(contentsOf: eval(p).bytes) }
            return .string(out[...])
        case .semver(let a, let op, let b):
            let x = eval(a)
            let y = eval(b)
            return .bool(SemVer.compare(x.text, op, y.text) ?? false)
        case .fractional(let bucketBy, let buckets):
            return fractional(bucketBy, buckets)
        case .segment(let name, let inner):
            let v = eval(inner)
            trace?.segments.append((name, v.truthy))
            trace?.lines.append("segment \(name) = \(v.truthy)")
            return v
        }
    }

    private mutating func compare(_ op: Expr.CompareOp, _ args: [Expr]) -> Bool {
        let a = eval(args[0])
        let b = eval(args[1])
        switch op {
        case .eq: return a.looselyEquals(b)
        case .ne: return !a.looselyEquals(b)
        case .strictEq: return a.strictlyEquals(b)
        case .strictNe: return !a.strictlyEquals(b)
        case .lt, .le, .gt, .ge:
            if args.count == 3 {
                // Between: a < b < c (or <=).
                let c = eval(args[2])
                return ordered(op, a, b) && ordered(op, b, c)
            }
            return ordered(op, a, b)
        }
    }

    private func ordered(_ op: Expr.CompareOp, _ a: Value, _ b: Value) -> Bool {
        if case .string(let x) = a, case .string(let y) = b, a.numeric == nil || b.numeric == nil {
            let lt = x.lexicographicallyPrecedes(y)
            let eq = x.elementsEqual(y)
            switch op {
            case .lt: return lt
            case .le: return lt || eq
            case .gt: return !lt && !eq
            default: return !lt
            }
        }
        guard let x = a.numeric, let y = b.numeric else { return false }
        switch op {
        case .lt: return x < y
        case .le: return x <= y
        case .gt: return x > y
        default: return x >= y
        }
    }

    private func contains(_ s: ArraySlice<UInt8>, _ sub: ArraySlice<UInt8>) -> Bool {
        if sub.isEmpty { return true }
        guard s.count >= sub.count else { return false }
        var i = s.startIndex
        let last = s.endIndex - sub.count
        while i <= last {
            if s[i] == sub.first!, s[i..<(i + sub.count)].elementsEqual(sub) { return true }
            i += 1
        }
        return false
    }

    /// flagd `fractional` (v2): hash the bucketing key with MurmurHash3 x86_32, map it onto the
    /// total weight with `(hash × total) >> 32`, and walk the buckets in order.
    private mutating func fractional(_ bucketBy: Expr?, _ buckets: [(variant: Expr, weight: Expr)]) -> Value {
        var hasher = Murmur3()
        var keyText: String?
        if let bucketBy, case .string(let s) = eval(bucketBy) {
            hasher.add(s)
            if trace != nil { keyText = String(decoding: s, as: UTF8.self) }
        } else {
            guard case .string(let tk) = context.lookup(.targetingKey) else {
                trace?.lines.append("fractional: no targetingKey and no bucketing value -> null (default variant)")
                return .null
            }
            hasher.add(flagKey)
            hasher.add(tk)
            if trace != nil { keyText = String(decoding: flagKey, as: UTF8.self) + String(decoding: tk, as: UTF8.self) }
        }
        let hash = hasher.finalize()
        var weights: [UInt64] = []
        weights.reserveCapacity(buckets.count)
        var total: UInt64 = 0
        for b in buckets {
            let w = eval(b.weight).numeric ?? 0
            let wi: UInt64 = w > 0 && w <= Double(Int32.max) ? UInt64(w) : 0
            weights.append(wi)
            total += wi
        }
        guard total > 0, total <= UInt64(Int32.max) else { return .null }
        let bucket = (UInt64(hash) * total) >> 32
        trace?.bucket = (hash, bucket, total)
        trace?.lines.append("fractional key \"\(keyText ?? "")\" hash \(hash) -> bucket \(bucket) of \(total)")
        var end: UInt64 = 0
        for (i, b) in buckets.enumerated() {
            end += weights[i]
            if bucket < end { return eval(b.variant) }
        }
        return .null
    }

    private func describe(_ v: Value) -> String {
        switch v {
        case .null: return "null"
        case .string(let s): return "\"\(String(decoding: s, as: UTF8.self))\""
        default: return v.text
        }
    }
}
