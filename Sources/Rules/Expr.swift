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

    public enum CompareOp: String, Sendable {
        case eq = "==", ne = "!=", strictEq = "===", strictNe = "!==", lt = "<", le = "<=", gt = ">", ge = ">="
    }
}
