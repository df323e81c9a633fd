/// Turns a flag's expression tree into a `Program`. Returns nil for rules the program does not
/// express (`cat`, array literals outside `in`, `fractional` with computed weights or variants):
/// those flags keep using the tree evaluator, with the same results.
struct ProgramCompiler {
    private var code: [Program.Instr] = []
    private var consts: [Value] = []
    private var constArrays: [Range<Int>] = []
    private var versions: [SemVer.Version?] = []
    private var fractionals: [Program.Fractional] = []
    private let flagKey: [UInt8]
    /// Context keys in slot order, shared by every flag of the rule set (slot 0 is the targeting key).
    var slots: [ContextKey]

    init(flagKey: [UInt8], slots: [ContextKey]) {
        self.flagKey = flagKey
        self.slots = slots
    }

    mutating func compile(_ e: Expr) -> Program? {
        guard emit(e) else { return nil }
        code.append(.init(op: .ret))
        return Program(
            code: code, consts: consts, constArrays: constArrays, versions: versions, fractionals: fractionals,
            targetingKeySlot: slot(.targetingKey), flagKey: flagKey)
    }

    private mutating func slot(_ key: ContextKey) -> Int32 {
        if let i = slots.firstIndex(of: key) { return Int32(i) }
        slots.append(key)
        return Int32(slots.count - 1)
    }

    private mutating func constant(_ v: Value) -> Int32 {
        consts.append(v)
        return Int32(consts.count - 1)
    }

    private mutating func op(_ o: Program.Op, _ a: Int32 = 0, _ b: Int32 = 0) {
        code.append(.init(op: o, a: a, b: b))
    }

    /// Emits a jump to be patched; returns its index.
    private mutating func jump(_ o: Program.Op) -> Int {
        code.append(.init(op: o, a: -1))
        return code.count - 1
    }

    private mutating func patch(_ at: Int) { code[at].a = Int32(code.count) }

    private static func isScalar(_ v: Value) -> Bool {
        if case .array = v { return false }
        return true
    }

    private mutating func emit(_ e: Expr) -> Bool {
        switch e {
        case .literal(let v):
            guard ProgramCompiler.isScalar(v) else { return false }
            op(.const_, constant(v))
        case .variable(let key, let fallback):
            if case .flagKey = key {
                op(.const_, constant(.string(flagKey[...])))
            } else {
                op(.slot, slot(key))
            }
            if let fallback {
                let skip = jump(.jumpIfNotNullKeep)
                guard emit(fallback) else { return false }
                patch(skip)
            }
        case .ifChain(let parts):
            var ends: [Int] = []
            var i = 0
            while i + 1 < parts.count {
                guard emit(parts[i]) else { return false }
                let next = jump(.jumpIfFalsePop)
                guard emit(parts[i + 1]) else { return false }
                ends.append(jump(.jump))
                patch(next)
                i += 2
            }
            if i < parts.count {
                guard emit(parts[i]) else { return false }
            } else {
                op(.const_, constant(.null))
            }
            for j in ends { patch(j) }
        case .and(let parts), .or(let parts):
            var isAnd = false
            if case .and = e { isAnd = true }
            guard !parts.isEmpty else {
                op(.const_, constant(.null))
                return true
            }
            var ends: [Int] = []
            for (i, p) in parts.enumerated() {
                guard emit(p) else { return false }
                if i < parts.count - 1 { ends.append(jump(isAnd ? .jumpIfFalseKeep : .jumpIfTrueKeep)) }
            }
            for j in ends { patch(j) }
        case .not(let x):
            guard emit(x) else { return false }
            op(.not)
        case .truthy(let x):
            guard emit(x) else { return false }
            op(.truthy)
        case .compare(let cmp, let args):
            guard args.count >= 2, let index = Expr.CompareOp.allCases.firstIndex(of: cmp) else { return false }
            let ordering = cmp == .lt || cmp == .le || cmp == .gt || cmp == .ge
            guard emit(args[0]), emit(args[1]) else { return false }
            if ordering && args.count == 3 {
                guard emit(args[2]) else { return false }
                op(.between, Int32(index))
            } else {
                op(.compare, Int32(index))
            }
        case .contains(let needle, let haystack):
            guard emit(needle) else { return false }
            if case .literal(.array(let items)) = haystack, items.allSatisfy(ProgramCompiler.isScalar) {
                let start = consts.count
                consts.append(contentsOf: items)
                constArrays.append(start..<consts.count)
                op(.containsConst, Int32(constArrays.count - 1))
            } else {
                guard emit(haystack) else { return false }
                op(.contains)
            }
        case .startsWith(let a, let b), .endsWith(let a, let b):
            guard emit(a), emit(b) else { return false }
            if case .startsWith = e { op(.startsWith) } else { op(.endsWith) }
        case .cat:
            return false
        case .semver(let a, let sop, let b):
            guard let opIndex = SemVer.Op.allCases.firstIndex(of: sop), emit(a) else { return false }
            if case .literal(let v) = b, ProgramCompiler.isScalar(v) {
                versions.append(SemVer.parse(v.text))
                op(.semverConst, Int32(versions.count - 1), Int32(opIndex))
            } else {
                guard emit(b) else { return false }
                op(.semver, 0, Int32(opIndex))
            }
        case .fractional(let bucketBy, let buckets):
            var weights: [UInt64] = []
            var variants: [Int32] = []
            var total: UInt64 = 0
            for b in buckets {
                guard case .literal(let w) = b.weight, case .literal(let name) = b.variant,
                    ProgramCompiler.isScalar(name)
                else { return false }
                let x = w.numeric ?? 0
                let wi: UInt64 = x > 0 && x <= Double(Int32.max) ? UInt64(x) : 0
                weights.append(wi)
                total += wi
                variants.append(constant(name))
            }
            if let bucketBy {
                guard emit(bucketBy) else { return false }
            }
            fractionals.append(
                .init(hasBucketBy: bucketBy != nil, weights: weights, total: total, variants: variants))
            op(.fractional, Int32(fractionals.count - 1))
        case .segment(_, let inner):
            return emit(inner)
        }
        return true
    }
}
