/// A problem in the rules file: where (line:column and JSON path) and what.
public struct RuleError: Error, CustomStringConvertible, Sendable {
    public var line: Int
    public var column: Int
    public var path: String
    public var message: String
    public var description: String { "\(line):\(column) \(path): \(message)" }
}

/// Compiles flagd-style JsonLogic targeting into `Expr`.
struct Compiler {
    /// `$evaluators` by name (raw JSON), inlined where `{"$ref": name}` appears.
    let evaluators: [String: JSONNode]
    var errors: [RuleError] = []
    /// Body paths the rules read: the body scanner extracts only these.
    var bodyPaths: Set<[String]> = []
    var usesFacts = false
    private var refStack: [String] = []

    init(evaluators: [String: JSONNode]) { self.evaluators = evaluators }

    mutating func fail(_ node: JSONNode, _ path: String, _ message: String) {
        errors.append(RuleError(line: node.line, column: node.column, path: path, message: message))
    }

    mutating func compile(_ node: JSONNode, _ path: String) -> Expr {
        switch node.value {
        case .null: return .literal(.null)
        case .bool(let b): return .literal(.bool(b))
        case .number(let n): return .literal(.number(n))
        case .string(let s): return .literal(.string(s))
        case .array(let items):
            let compiled = items.enumerated().map { compile($1, "\(path)[\($0)]") }
            if compiled.allSatisfy({ if case .literal = $0 { return true } else { return false } }) {
                return .literal(
                    .array(compiled.map { if case .literal(let v) = $0 { return v } else { return .null } }))
            }
            return .cat(compiled)  // not reached by valid rules; keeps evaluation total
        case .object(let entries):
            guard entries.count == 1 else {
                fail(
                    node, path, "an operation is an object with exactly one key (the operator), found \(entries.count)")
                return .literal(.null)
            }
            let (op, argNode) = entries[0]
            let args: [JSONNode] = argNode.array ?? [argNode]
            return compileOp(op, args, argNode, node, "\(path).\(op)")
        }
    }

    private mutating func compileOp(
        _ op: String, _ args: [JSONNode], _ argNode: JSONNode, _ node: JSONNode, _ path: String
    ) -> Expr {
        func need(_ range: ClosedRange<Int>) -> Bool {
            if range.contains(args.count) { return true }
            fail(
                node, path,
                "'\(op)' takes \(range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound) to \(range.upperBound)") arguments, found \(args.count)"
            )
            return false
        }
        func sub(_ i: Int) -> Expr { compile(args[i], "\(path)[\(i)]") }
        switch op {
        case "$ref":
            guard let name = argNode.string else {
                fail(node, path, "$ref takes the name of an $evaluators entry")
                return .literal(.null)
            }
            guard let target = evaluators[name] else {
                fail(
                    node, path,
                    "$ref to unknown evaluator '\(name)' (defined: \(evaluators.keys.sorted().joined(separator: ", ")))"
                )
                return .literal(.null)
            }
            if refStack.contains(name) {
                fail(node, path, "$ref cycle: \((refStack + [name]).joined(separator: " -> "))")
                return .literal(.null)
            }
            refStack.append(name)
            defer { refStack.removeLast() }
            return .segment(name, compile(target, "$evaluators.\(name)"))
        case "var":
            guard let first = args.first, let name = first.string ?? (first.number.map { String(Int($0)) }) else {
                fail(node, path, "var takes a path string")
                return .literal(.null)
            }
            guard let key = ContextKey.parse(name) else {
                fail(
                    node, path,
                    "unknown context name '\(name)': use targetingKey, headers.NAME, body.PATH, request.FACT (\(RequestFact.allCases.map(\.rawValue).joined(separator: ", "))), $flagd.flagKey or $flagd.timestamp"
                )
                return .literal(.null)
            }
            if case .body(let p) = key {
                guard p.count <= 8 else {
                    fail(node, path, "body paths are at most 8 levels deep ('\(name)')")
                    return .literal(.null)
                }
                bodyPaths.insert(p)
            }
            if case .fact = key { usesFacts = true }
            return .variable(key, fallback: args.count > 1 ? sub(1) : nil)
        case "if", "?:":
            guard args.count >= 1 else { return .literal(.null) }
            return .ifChain(args.indices.map(sub))
        case "and": return need(1...64) ? .and(args.indices.map(sub)) : .literal(.null)
        case "or": return need(1...64) ? .or(args.indices.map(sub)) : .literal(.null)
        case "!": return need(1...1) ? .not(sub(0)) : .literal(.null)
        case "!!": return need(1...1) ? .truthy(sub(0)) : .literal(.null)
        case "==", "!=", "===", "!==":
            return need(2...2) ? .compare(Expr.CompareOp(rawValue: op)!, [sub(0), sub(1)]) : .literal(.null)
        case "<", "<=":
            return need(2...3) ? .compare(Expr.CompareOp(rawValue: op)!, args.indices.map(sub)) : .literal(.null)
        case ">", ">=":
            return need(2...2) ? .compare(Expr.CompareOp(rawValue: op)!, [sub(0), sub(1)]) : .literal(.null)
        case "in": return need(2...2) ? .contains(needle: sub(0), haystack: sub(1)) : .literal(.null)
        case "starts_with": return need(2...2) ? .startsWith(sub(0), sub(1)) : .literal(.null)
        case "ends_with": return need(2...2) ? .endsWith(sub(0), sub(1)) : .literal(.null)
        case "cat": return .cat(args.indices.map(sub))
        case "sem_ver":
            guard need(3...3) else { return .literal(.null) }
            guard let opText = args[1].string, let semOp = SemVer.Op(rawValue: opText) else {
                fail(
                    args[1], "\(path)[1]",
                    "sem_ver operator must be one of \(SemVer.Op.allCases.map(\.rawValue).joined(separator: " "))")
                return .literal(.null)
            }
            return .semver(sub(0), semOp, sub(2))
        case "fractional":
            return compileFractional(args, node, path)
        default:
            fail(node, path, "unknown operator '\(op)'")
            return .literal(.null)
        }
    }

    /// `fractional`: an optional bucketing expression, then `[variant, weight]` pairs (weight
    /// defaults to 1). Weights are whole numbers ≥ 0 whose sum fits in Int32, as in flagd.
    private mutating func compileFractional(_ args: [JSONNode], _ node: JSONNode, _ path: String) -> Expr {
        var rest = args[...]
        var bucketBy: Expr?
        if let first = rest.first, first.array == nil {
            bucketBy = compile(first, "\(path)[0]")
            rest = rest.dropFirst()
        }
        var buckets: [(variant: Expr, weight: Expr)] = []
        var total: Double = 0
        for (i, b) in rest.enumerated() {
            let bp = "\(path)[\(i + (bucketBy == nil ? 0 : 1))]"
            guard let pair = b.array, (1...2).contains(pair.count) else {
                fail(b, bp, "each fractional bucket is [variant] or [variant, weight]")
                continue
            }
            let variant = compile(pair[0], "\(bp)[0]")
            var weight = Expr.literal(.number(1))
            if pair.count == 2 {
                if let w = pair[1].number {
                    guard w >= 0, w == w.rounded(), w <= Double(Int32.max) else {
                        fail(pair[1], "\(bp)[1]", "weights are whole numbers from 0 to \(Int32.max)")
                        continue
                    }
                    total += w
                    weight = .literal(.number(w))
                } else {
                    weight = compile(pair[1], "\(bp)[1]")
                }
            } else {
                total += 1
            }
            buckets.append((variant, weight))
        }
        if buckets.isEmpty { fail(node, path, "fractional needs at least one [variant, weight] bucket") }
        if total > Double(Int32.max) { fail(node, path, "the sum of fractional weights exceeds \(Int32.max)") }
        return .fractional(bucketBy: bucketBy, buckets: buckets)
    }
}
