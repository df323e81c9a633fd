/// A value during targeting evaluation. Strings are byte slices: context values point into the
/// request's own bytes (headers, body) without copying, literals into the compiled rules.
public enum Value: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(ArraySlice<UInt8>)
    case array([Value])

    public static func string(_ s: String) -> Value { .string(ArraySlice(s.utf8)) }

    /// JsonLogic truthiness: null, false, 0, "" and [] are false.
    public var truthy: Bool {
        switch self {
        case .null: return false
        case .bool(let b): return b
        case .number(let n): return n != 0 && !n.isNaN
        case .string(let s): return !s.isEmpty
        case .array(let a): return !a.isEmpty
        }
    }

    /// A number when the value reads as one (JsonLogic coercion for comparisons).
    public var numeric: Double? {
        switch self {
        case .number(let n): return n
        case .bool(let b): return b ? 1 : 0
        case .string(let s):
            guard !s.isEmpty, s.count < 64 else { return nil }
            return Double(String(decoding: s, as: UTF8.self))
        case .null: return 0
        case .array: return nil
        }
    }

    /// Text form for `cat` and for bucketing keys.
    public var bytes: [UInt8] {
        switch self {
        case .null: return []
        case .bool(let b): return Array((b ? "true" : "false").utf8)
        case .number(let n):
            if n == n.rounded(), abs(n) < 1e15 { return Array(String(Int64(n)).utf8) }
            return Array(String(n).utf8)
        case .string(let s): return Array(s)
        case .array(let a):
            return Array(a.map { String(decoding: $0.bytes, as: UTF8.self) }.joined(separator: ",").utf8)
        }
    }

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// JsonLogic `==` (loose): numbers and numeric strings compare as numbers.
    public func looselyEquals(_ other: Value) -> Bool {
        switch (self, other) {
        case (.string(let a), .string(let b)): return a.elementsEqual(b)
        case (.null, .null): return true
        case (.null, _), (_, .null): return false
        case (.array(let a), .array(let b)): return a == b
        default:
            guard let x = numeric, let y = other.numeric else { return false }
            return x == y
        }
    }

    /// JsonLogic `===` (strict): same type and value.
    public func strictlyEquals(_ other: Value) -> Bool {
        switch (self, other) {
        case (.string(let a), .string(let b)): return a.elementsEqual(b)
        default: return self == other
        }
    }

    public static func == (a: Value, b: Value) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x.elementsEqual(y)
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0 == $1 }
        default: return false
        }
    }
}
