/// A compiled targeting rule: the JsonLogic tree turned into an expression tree once at load, with
/// `var` paths resolved to `ContextKey`s and `$ref`s inlined. Requests only walk this tree.
public indirect enum Expr: Sendable {
    case literal(Value)
    case variable(ContextKey, fallback: Expr?)
    case ifChain([Expr])
    case and([Expr])
    case or([Expr])
    case not(Expr)
    case truthy(Expr)
    case compare(CompareOp, [Expr])
    case contains(needle: Expr, haystack: Expr)
    case startsWith(Expr, Expr)
    case endsWith(Expr, Expr)
    case cat([Expr])
    case semver(Expr, SemVer.Op, Expr)
    case fractional(bucketBy: Expr?, buckets: [(variant: Expr, weight: Expr)])
    /// A named `$evaluators` entry that was referenced (kept for `explain` and segment tracking).
    case segment(String, Expr)

    public enum CompareOp: String, Sendable, CaseIterable {
        case eq = "==", ne = "!=", strictEq = "===", strictNe = "!==", lt = "<", le = "<=", gt = ">", ge = ">="
    }
}

extension Expr {
    /// The named segments referenced anywhere in this rule (nested ones included), each once, in
    /// the order they first appear.
    public func segmentsReferenced() -> [(name: String, rule: Expr)] {
        var out: [(name: String, rule: Expr)] = []
        func walk(_ e: Expr) {
            switch e {
            case .literal: break
            case .variable(_, let fallback): if let fallback { walk(fallback) }
            case .ifChain(let xs), .and(let xs), .or(let xs), .compare(_, let xs), .cat(let xs): xs.forEach(walk)
            case .not(let x), .truthy(let x): walk(x)
            case .contains(let a, let b), .startsWith(let a, let b), .endsWith(let a, let b), .semver(let a, _, let b):
                walk(a)
                walk(b)
            case .fractional(let by, let buckets):
                if let by { walk(by) }
                for b in buckets {
                    walk(b.variant)
                    walk(b.weight)
                }
            case .segment(let name, let rule):
                if !out.contains(where: { $0.name == name }) { out.append((name, rule)) }
                walk(rule)
            }
        }
        walk(self)
        return out
    }
}
