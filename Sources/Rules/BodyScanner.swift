import CTextScan
import Glibc

/// What one scan of a request body found: the values at the paths the rules read, and the facts
/// derived from an OpenAI-style chat body.
public struct BodyFacts: Sendable {
    /// Values at `RuleSet.bodyPaths`, same order; `.null` when absent.
    public var values: [Value] = []
    /// The body was valid JSON (an object) and within the inspection limit.
    public var parsed = false
    /// The body was larger than the inspection limit (nothing was extracted).
    public var tooLarge = false
    public var messageCount = 0
    public var userTurns = 0
    /// Bytes of message text content (for the prompt-token estimate).
    public var contentBytes = 0
    public var hasTools = false
    public var hasImages = false
    public var hasResponseFormat = false
    public var stream = false
    /// The top-level `"model"` string, and where its raw text sits in the body (for rewriting).
    public var model: Value = .null
    public var modelRange: Range<Int>?

    public init() {}

    public var promptTokens: Int { (contentBytes + 3) / 4 }

    /// Back to "nothing found" with `pathCount` null values, keeping the values' storage when it
    /// has that size (a router reuses one `BodyFacts` per worker: no allocation per request).
    public mutating func reset(pathCount: Int) {
        var kept: [Value] = []
        swap(&kept, &values)
        self = BodyFacts()
        if kept.count == pathCount {
            // One uniqueness check for the whole array, not one per element.
            kept.withUnsafeMutableBufferPointer { values in
                for i in values.indices { values[i] = .null }
            }
        } else {
            kept = Array(repeating: .null, count: pathCount)
        }
        values = kept
    }
}

/// Extracts the paths the rules need from a JSON body in one pass over its bytes.
///
/// No JSON tree is built: values are skipped unless their path is wanted or feeds a fact, and
/// strings come back as slices of the body (copied only when they hold escapes). Malformed JSON
/// stops the scan: `parsed` is false, every value is null, and the request still flows.
public struct BodyScanner: Sendable {
    let wanted: WantedTable
    let facts: Bool
    /// The longest wanted path: below that depth nothing is compared.
    let wantedDepth: Int
    static let maxDepth = 64

    public init(paths: [[String]], facts: Bool) {
        wanted = WantedTable(paths)
        wantedDepth = min(paths.map(\.count).max() ?? 0, Walker.PathStack.stored)
        self.facts = facts
    }

    public func scan(_ body: [UInt8], limit: Int) -> BodyFacts {
        var out = BodyFacts()
        scan(body, limit: limit, into: &out)
        return out
    }

    /// Scans into `out`, reusing its storage for the values (see `BodyFacts.reset`). The values
    /// may be slices of `body`: reset them once the request is decided, or they keep it alive.
    public func scan(_ body: [UInt8], limit: Int, into out: inout BodyFacts) {
        out.reset(pathCount: wanted.pathCount)
        if body.count > limit {
            out.tooLarge = true
            return
        }
        body.withUnsafeBufferPointer { p in
            var walker = Walker(
                body: body, p: p, wanted: wanted, wantedDepth: wantedDepth, facts: facts, out: BodyFacts())
            // The walker owns the facts while it writes them (one reference: no copy on write).
            swap(&walker.out, &out)
            defer { swap(&walker.out, &out) }
            walker.skipWS()
            guard walker.i < p.count, p[walker.i] == UInt8(ascii: "{") else { return }
            if walker.value(depth: 0, role: .root) {
                walker.skipWS()
                walker.out.parsed = walker.i == p.count
            }
            if !walker.out.parsed { walker.out.reset(pathCount: wanted.pathCount) }
        }
    }
}

/// The wanted paths as plain memory, so matching a path while walking touches no reference
/// counts: parts hold offsets into one byte buffer. Immutable after init; freed with the scanner.
final class WantedTable: @unchecked Sendable {
    /// One component of a wanted path: an object key, which may also be an array index (-1: not).
    struct Part {
        var keyOffset: Int32
        var keyCount: Int32
        var index: Int32
    }

    let parts: UnsafeMutablePointer<Part>
    /// Per path: its first part and its length.
    let paths: UnsafeMutablePointer<(start: Int32, count: Int32)>
    let pathCount: Int
    let bytes: UnsafeMutableRawPointer
    /// Per depth below `Walker.PathStack.stored`: bit n set when some wanted path has a key of n
    /// bytes there (63: 63 or more), bit 0 also when it has an array index there. A quick "no"
    /// before comparing the path with every wanted one.
    let partsAtDepth: UnsafeMutablePointer<UInt64>

    init(_ list: [[String]]) {
        let partCount = list.reduce(0) { $0 + $1.count }
        let byteCount = list.reduce(0) { $0 + $1.reduce(0) { $0 + $1.utf8.count } }
        parts = .allocate(capacity: max(1, partCount))
        paths = .allocate(capacity: max(1, list.count))
        bytes = .allocate(byteCount: max(1, byteCount), alignment: 1)
        pathCount = list.count
        partsAtDepth = .allocate(capacity: Walker.PathStack.stored)
        partsAtDepth.initialize(repeating: 0, count: Walker.PathStack.stored)
        for path in list {
            for (depth, key) in path.enumerated() where depth < Walker.PathStack.stored {
                partsAtDepth[depth] |= 1 << UInt64(min(key.utf8.count, 63))
                if Int(key) != nil { partsAtDepth[depth] |= 1 }
            }
        }
        var pi = 0
        var offset = 0
        for (n, path) in list.enumerated() {
            paths[n] = (Int32(pi), Int32(path.count))
            for key in path {
                let utf8 = Array(key.utf8)
                utf8.withUnsafeBytes { (bytes + offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                parts[pi] = Part(keyOffset: Int32(offset), keyCount: Int32(utf8.count), index: Int32(Int(key) ?? -1))
                offset += utf8.count
                pi += 1
            }
        }
    }

    deinit {
        parts.deallocate()
        paths.deallocate()
        bytes.deallocate()
        partsAtDepth.deallocate()
    }
}

/// Where the walker is, for facts.
enum Role {
    case root, other, messages, message, content, contentPart, tools, functions
}

/// Helper methods are `mutating` on purpose: a non-mutating call on this large struct copies it
/// (measured: 16 % of scan time in memmove); a mutating one passes it by address.
struct Walker {
    /// The body, for slicing values out of it (no copy).
    let body: [UInt8]
    /// The same bytes, for reading without bounds checks or reference counting.
    let p: UnsafeBufferPointer<UInt8>
    let wanted: WantedTable
    let wantedDepth: Int
    let facts: Bool
    var out: BodyFacts
    var i = 0
    /// The current path: key ranges in the body, or array indices. A fixed stack (no allocation,
    /// no uniqueness checks): only paths up to the longest wanted one are ever compared, deeper
    /// levels just count depth.
    var path = PathStack()

    enum PathPart {
        case key(Range<Int>)
        case index(Int)
    }

    struct PathStack {
        private var parts: (PathPart, PathPart, PathPart, PathPart, PathPart, PathPart, PathPart, PathPart) = (
            .index(0), .index(0), .index(0), .index(0), .index(0), .index(0), .index(0), .index(0)
        )
        private(set) var count = 0
        static let stored = 8

        var isEmpty: Bool { count == 0 }

        mutating func append(_ p: PathPart) {
            if count < PathStack.stored {
                withUnsafeMutableBytes(of: &parts) { $0.baseAddress!.assumingMemoryBound(to: PathPart.self)[count] = p }
            }
            count += 1
        }

        mutating func removeLast() { count -= 1 }

        subscript(i: Int) -> PathPart {
            withUnsafeBytes(of: parts) { $0.baseAddress!.assumingMemoryBound(to: PathPart.self)[i] }
        }
    }

    /// Most bodies are compact JSON: one comparison says "not whitespace" for any byte above space.
    @inline(__always)
    mutating func skipWS() {
        while i < p.count {
            let b = p[i]
            guard b <= 0x20, b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 else { return }
            i += 1
        }
    }

    /// Whether the current path's components all match the first ones of wanted path `w`.
    @inline(__always)
    mutating func prefixMatches(_ w: Int) -> Bool {
        let first = Int(wanted.paths[w].start)
        for k in 0..<path.count {
            let part = wanted.parts[first + k]
            switch path[k] {
            case .key(let r):
                guard r.count == Int(part.keyCount),
                    memcmp(p.baseAddress! + r.lowerBound, wanted.bytes + Int(part.keyOffset), r.count) == 0
                else { return false }
            case .index(let n):
                guard Int(part.index) == n else { return false }
            }
        }
        return true
    }

    /// Compared in line: keys are a few bytes, shorter than a call to `memcmp`.
    @inline(__always)
    mutating func keyIs(_ r: Range<Int>, _ s: StaticString) -> Bool {
        guard r.count == s.utf8CodeUnitCount else { return false }
        let a = p.baseAddress! + r.lowerBound
        let b = s.utf8Start
        for k in 0..<r.count where a[k] != b[k] { return false }
        return true
    }

    /// Whether the current path's last component can be part of a wanted path at its depth.
    @inline(__always)
    mutating func lastPartMayMatch() -> Bool {
        let depth = path.count - 1
        guard depth < Walker.PathStack.stored else { return true }
        switch path[depth] {
        case .key(let r): return keyMayMatch(atDepth: depth, count: r.count)
        case .index: return wanted.partsAtDepth[depth] & 1 != 0
        }
    }

    /// Whether some wanted path has a key of `count` bytes at `depth` (below `PathStack.stored`).
    @inline(__always)
    func keyMayMatch(atDepth depth: Int, count: Int) -> Bool {
        wanted.partsAtDepth[depth] & (1 << UInt64(min(count, 63))) != 0
    }

    /// Whether member `key` of the current object may lie on a wanted path: what `value` would
    /// find `comparable` once the key is appended (the same depth and key-length test).
    @inline(__always)
    mutating func childMayBeWanted(_ key: Range<Int>) -> Bool {
        let depth = path.count
        guard depth + 1 <= wantedDepth else { return false }
        guard depth < Walker.PathStack.stored else { return true }
        return keyMayMatch(atDepth: depth, count: key.count)
    }

    /// Index of the wanted path equal to the current path, if any.
    mutating func wantedIndex() -> Int? {
        for w in 0..<wanted.pathCount where Int(wanted.paths[w].count) == path.count && prefixMatches(w) { return w }
        return nil
    }

    /// Whether some wanted path continues below the current path.
    mutating func wantedBelow() -> Bool {
        for w in 0..<wanted.pathCount where Int(wanted.paths[w].count) > path.count && prefixMatches(w) { return true }
        return false
    }

    /// Parses one value at `i`. Returns false on malformed JSON.
    mutating func value(depth: Int, role: Role) -> Bool {
        guard depth < BodyScanner.maxDepth, i < p.count else { return false }
        let comparable = !path.isEmpty && path.count <= wantedDepth && lastPartMayMatch()
        let target = comparable ? wantedIndex() : nil
        let interesting =
            role != .other || target != nil || (comparable && path.count < wantedDepth && wantedBelow())
        switch p[i] {
        case UInt8(ascii: "{"):
            let start = i
            if !interesting { return skipContainer() }
            i += 1
            skipWS()
            if i < p.count && p[i] == UInt8(ascii: "}") {
                i += 1
                if let t = target { out.values[t] = .string(body[start..<i]) }
                return true
            }
            while true {
                skipWS()
                guard i < p.count, p[i] == UInt8(ascii: "\"") else { return false }
                let keyStart = i + 1
                guard skipString() else { return false }
                let key = keyStart..<(i - 1)
                skipWS()
                guard i < p.count, p[i] == UInt8(ascii: ":") else { return false }
                i += 1
                skipWS()
                let childRole = facts ? childRoleOf(key, in: role) : .other
                if role == .root && facts && keyIs(key, "response_format") { out.hasResponseFormat = true }
                if role == .message && facts && keyIs(key, "role") {
                    if i < p.count, p[i] == UInt8(ascii: "\"") {
                        let s = i + 1
                        guard skipString() else { return false }
                        if keyIs(s..<(i - 1), "user") { out.userTurns += 1 }
                        if childMayBeWanted(key) {
                            path.append(.key(key))
                            if let t = wantedIndex() { out.values[t] = stringValue(s..<(i - 1)) }
                            path.removeLast()
                        }
                        if !afterMember() { return false }
                        if i > 0 && p[i - 1] == UInt8(ascii: "}") { break }
                        continue
                    }
                }
                if role == .contentPart && facts && keyIs(key, "type"), i < p.count, p[i] == UInt8(ascii: "\"") {
                    let s = i + 1
                    guard skipString() else { return false }
                    let t = s..<(i - 1)
                    if keyIs(t, "image_url") || keyIs(t, "input_image") || keyIs(t, "image") { out.hasImages = true }
                    if !afterMember() { return false }
                    if i > 0 && p[i - 1] == UInt8(ascii: "}") { break }
                    continue
                }
                if role == .contentPart && facts && keyIs(key, "text"), i < p.count, p[i] == UInt8(ascii: "\"") {
                    let s = i
                    guard skipString() else { return false }
                    out.contentBytes += i - s - 2
                    if !afterMember() { return false }
                    if i > 0 && p[i - 1] == UInt8(ascii: "}") { break }
                    continue
                }
                // A scalar member of the root object (`model`, `user`, `stream`, `temperature`...):
                // its facts and its value, when a rule reads it, taken here without the call.
                if path.isEmpty, i < p.count, p[i] != UInt8(ascii: "{"), p[i] != UInt8(ascii: "[") {
                    let s = i
                    guard scalar() else { return false }
                    if facts { noteRootScalar(key: key, s..<i) }
                    if childMayBeWanted(key) {
                        path.append(.key(key))
                        if let t = wantedIndex() { out.values[t] = scalarValue(s..<i) }
                        path.removeLast()
                    }
                    if !afterMember() { return false }
                    if p[i - 1] == UInt8(ascii: "}") { break }
                    continue
                }
                // A scalar no rule reads below the root (most members of a chat body): skipped here,
                // without the call and the path bookkeeping `value` would do for it.
                if !path.isEmpty, childRole == .other || childRole == .content, i < p.count,
                    p[i] != UInt8(ascii: "{"), p[i] != UInt8(ascii: "["), !childMayBeWanted(key)
                {
                    let s = i
                    guard scalar() else { return false }
                    if childRole == .content, p[s] == UInt8(ascii: "\"") { out.contentBytes += i - s - 2 }
                    if !afterMember() { return false }
                    if p[i - 1] == UInt8(ascii: "}") { break }
                    continue
                }
                path.append(.key(key))
                let ok = value(depth: depth + 1, role: childRole)
                path.removeLast()
                guard ok else { return false }
                if !afterMember() { return false }
                if p[i - 1] == UInt8(ascii: "}") { break }
            }
            if let t = target { out.values[t] = .string(body[start..<i]) }
            return true
        case UInt8(ascii: "["):
            let start = i
            if !interesting { return skipContainer() }
            i += 1
            var index = 0
            var scalars: [Value] = []
            var allScalar = true
            skipWS()
            if i < p.count && p[i] == UInt8(ascii: "]") {
                i += 1
                if let t = target { out.values[t] = .array([]) }
                return true
            }
            while true {
                skipWS()
                let childRole: Role
                switch role {
                case .messages: childRole = .message
                case .content: childRole = .contentPart
                default: childRole = .other
                }
                if role == .messages { out.messageCount += 1 }
                if role == .tools || role == .functions { out.hasTools = true }
                if target != nil, i < p.count, p[i] != UInt8(ascii: "{"), p[i] != UInt8(ascii: "[") {
                    let s = i
                    guard scalar() else { return false }
                    scalars.append(scalarValue(s..<i))
                } else {
                    allScalar = false
                    path.append(.index(index))
                    let ok = value(depth: depth + 1, role: childRole)
                    path.removeLast()
                    guard ok else { return false }
                }
                index += 1
                skipWS()
                guard i < p.count else { return false }
                if p[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                if p[i] == UInt8(ascii: "]") {
                    i += 1
                    break
                }
                return false
            }
            if let t = target { out.values[t] = allScalar ? .array(scalars) : .string(body[start..<i]) }
            return true
        default:
            let s = i
            guard scalar() else { return false }
            if role == .content, p[s] == UInt8(ascii: "\"") { out.contentBytes += i - s - 2 }
            if let t = target { out.values[t] = scalarValue(s..<i) }
            return true
        }
    }

    /// After a member value: expects `,` (more) or `}` (end). Leaves `i` past it.
    @inline(__always)
    mutating func afterMember() -> Bool {
        skipWS()
        guard i < p.count else { return false }
        if p[i] == UInt8(ascii: ",") || p[i] == UInt8(ascii: "}") {
            i += 1
            return true
        }
        return false
    }

    @inline(__always)
    mutating func childRoleOf(_ key: Range<Int>, in parent: Role) -> Role {
        switch parent {
        case .root:
            if keyIs(key, "messages") { return .messages }
            if keyIs(key, "tools") { return .tools }
            if keyIs(key, "functions") { return .functions }
        case .message:
            if keyIs(key, "content") { return .content }
        default: break
        }
        return .other
    }

    /// The facts a scalar member `key` of the root object gives (`stream`, `model`).
    mutating func noteRootScalar(key: Range<Int>, _ r: Range<Int>) {
        if keyIs(key, "stream") {
            out.stream = keyIs(r, "true")
        } else if keyIs(key, "model"), p[r.lowerBound] == UInt8(ascii: "\"") {
            let inner = (r.lowerBound + 1)..<(r.upperBound - 1)
            out.model = stringValue(inner)
            out.modelRange = inner
        }
    }

    mutating func scalarValue(_ r: Range<Int>) -> Value {
        let b = p[r.lowerBound]
        if b == UInt8(ascii: "\"") { return stringValue((r.lowerBound + 1)..<(r.upperBound - 1)) }
        if b == UInt8(ascii: "t") { return .bool(true) }
        if b == UInt8(ascii: "f") { return .bool(false) }
        if b == UInt8(ascii: "n") { return .null }
        return .number(Double(String(decoding: body[r], as: UTF8.self)) ?? 0)
    }

    /// A string's content: a slice when it has no escapes, else decoded.
    mutating func stringValue(_ r: Range<Int>) -> Value {
        guard memchr(p.baseAddress! + r.lowerBound, 0x5C, r.count) != nil else { return .string(body[r]) }
        var text: [UInt8] = [UInt8(ascii: "\"")]
        text.append(contentsOf: body[r])
        text.append(UInt8(ascii: "\""))
        if let node = try? JSONParser.parse(text), let s = node.string { return .string(ArraySlice(s.utf8)) }
        return .string(body[r])
    }

    /// Skips a string: from backslash to backslash up to the closing quote, sixteen bytes at a
    /// time (`mf_json_string_span`). It finds the string's end; it does not validate the bytes
    /// inside (the scanner extracts values, the model server validates JSON).
    @inline(__always)
    mutating func skipString() -> Bool {
        i += 1
        let base = p.baseAddress!
        while i < p.count {
            i += mf_json_string_span(base + i, p.count - i)
            guard i < p.count else { return false }
            if base[i] == 0x22 {
                i += 1
                return true
            }
            i += 2  // a backslash and the byte it escapes
        }
        return false
    }

    @inline(__always)
    mutating func scalar() -> Bool {
        guard i < p.count else { return false }
        switch p[i] {
        case UInt8(ascii: "\""): return skipString()
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let s = i
            while i < p.count {
                let b = p[i]
                if (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "-")
                    || b == UInt8(ascii: "+") || b == UInt8(ascii: ".")
                    || b == UInt8(ascii: "e") || b == UInt8(ascii: "E")
                {
                    i += 1
                } else {
                    break
                }
            }
            return i > s
        default: return false
        }
    }

    mutating func literal(_ w: StaticString) -> Bool {
        let n = w.utf8CodeUnitCount
        guard i + n <= p.count else { return false }
        for k in 0..<n where p[i + k] != w.utf8Start[k] { return false }
        i += n
        return true
    }

    /// Skips an object or array without looking inside (strings are skipped whole, so brackets in
    /// them do not count).
    mutating func skipContainer() -> Bool {
        var depth = 0
        while i < p.count {
            let b = p[i]
            switch b {
            case UInt8(ascii: "\""):
                guard skipString() else { return false }
                continue
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > BodyScanner.maxDepth { return false }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 {
                    i += 1
                    return true
                }
            default: break
            }
            i += 1
        }
        return false
    }
}
