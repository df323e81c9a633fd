import Rules
import Synchronization

/// Evaluation counters by flag, variant and reason, shared by all workers and kept across reloads
/// (so they stay monotonic for Prometheus). Routers look counters up when rules are installed,
/// never per request; a request costs one relaxed atomic add.
public final class FlagCounters: Sendable {
    struct Key: Hashable, Sendable {
        let flag: String
        let variant: String
        let reason: String
    }

    private let counters = Mutex<[Key: Counter]>([:])
    /// Requests no flag governed.
    public let unflagged = Counter()

    public init() {}

    func counter(flag: String, variant: String, reason: Decision.Reason) -> Counter {
        counters.withLock { map in
            let key = Key(flag: flag, variant: variant, reason: reason.rawValue)
            if let c = map[key] { return c }
            let c = Counter()
            map[key] = c
            return c
        }
    }

    /// Reasons a flag decision can have, in the order of `Router`'s counter tables.
    static let reasons: [Decision.Reason] = [.targetingMatch, .defaultVariant, .disabled, .error]

    func render() -> String {
        let snapshot = counters.withLock { $0.map { ($0.key, $0.value.load) } }.sorted {
            ($0.0.flag, $0.0.variant, $0.0.reason) < ($1.0.flag, $1.0.variant, $1.0.reason)
        }
        var out =
            "# HELP modelflag_flag_evaluations_total Requests a flag decided, by flag, variant and reason (TARGETING_MATCH, DEFAULT, DISABLED, ERROR).\n"
        out += "# TYPE modelflag_flag_evaluations_total counter\n"
        for (key, value) in snapshot {
            out +=
                "modelflag_flag_evaluations_total{flag=\"\(escape(key.flag))\",variant=\"\(escape(key.variant))\",reason=\"\(key.reason)\"} \(value)\n"
        }
        out += "# HELP modelflag_unflagged_requests_total Requests no flag governed (sent to the default upstream).\n"
        out +=
            "# TYPE modelflag_unflagged_requests_total counter\nmodelflag_unflagged_requests_total \(unflagged.load)\n"
        return out
    }

    private func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}
