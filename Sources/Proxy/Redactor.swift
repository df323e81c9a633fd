/// Replaces the values of listed JSON fields with `"sha256:<hex>"` of their bytes, leaving every
/// other byte of the document as it was. Arrays are walked through: `messages.content` names the
/// `content` of every element of `messages`.
///
/// Runs only when a flag captures `full` bodies with `redact` set, at record time. A document that
/// is not valid JSON cannot be redacted safely: `redact` returns nil and the caller stores a hash.
struct Redactor {
    let paths: [[String]]
    /// Deeper documents are refused (nil) rather than recursed into without bound.
    static let maxDepth = 64

    func redact(_ doc: UnsafeRawBufferPointer) -> [UInt8]? {
        var w = Walk(p: doc, paths: paths.map { $0.map { Array($0.utf8) } })
        w.out.reserveCapacity(doc.count)
        w.skipSpace()
        guard w.value(depth: 0) else { return nil }
        w.skipSpace()
        guard w.i == doc.count else { return nil }
        w.flush(to: doc.count)
        return w.out
    }

    private struct Walk {
        let p: UnsafeRawBufferPointer
        let paths: [[[UInt8]]]
        var i = 0
        /// Bytes before this index not yet copied to `out`.
        var copied = 0
        var out: [UInt8] = []
        /// Object keys from the root to the current value (array levels add nothing).
        var keyPath: [ArraySlice<UInt8>] = []

        mutating func flush(to end: Int) {
            if end > copied { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: p[copied..<end])) }
            copied = end
        }

        mutating func skipSpace() {
            while i < p.count, p[i] == 0x20 || p[i] == 0x0A || p[i] == 0x0D || p[i] == 0x09 { i += 1 }
        }

        var pathIsRedacted: Bool {
            paths.contains { path in
                path.count == keyPath.count && zip(path, keyPath).allSatisfy { $0.elementsEqual($1) }
            }
        }

        mutating func value(depth: Int) -> Bool {
            guard depth < Redactor.maxDepth, i < p.count else { return false }
            let start = i
            let redacted = !keyPath.isEmpty && pathIsRedacted
            let ok: Bool
            switch p[i] {
            case UInt8(ascii: "{"): ok = object(depth: depth)
            case UInt8(ascii: "["): ok = array(depth: depth)
            case UInt8(ascii: "\""): ok = string() != nil
            default: ok = scalar()
            }
            guard ok else { return false }
            if redacted {
                flush(to: start)
                out.append(contentsOf: "\"sha256:".utf8)
                Digest.sha256Hex(UnsafeRawBufferPointer(rebasing: p[start..<i]), into: &out)
                out.append(UInt8(ascii: "\""))
                copied = i
            }
            return true
        }

        mutating func object(depth: Int) -> Bool {
            i += 1
            skipSpace()
            if i < p.count, p[i] == UInt8(ascii: "}") {
                i += 1
                return true
            }
            while true {
                skipSpace()
                guard i < p.count, p[i] == UInt8(ascii: "\""), let key = string() else { return false }
                skipSpace()
                guard i < p.count, p[i] == UInt8(ascii: ":") else { return false }
                i += 1
                skipSpace()
                keyPath.append(key)
                let ok = value(depth: depth + 1)
                keyPath.removeLast()
                guard ok else { return false }
                skipSpace()
                guard i < p.count else { return false }
                if p[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                if p[i] == UInt8(ascii: "}") {
                    i += 1
                    return true
                }
                return false
            }
        }

        mutating func array(depth: Int) -> Bool {
            i += 1
            skipSpace()
            if i < p.count, p[i] == UInt8(ascii: "]") {
                i += 1
                return true
            }
            while true {
                skipSpace()
                guard value(depth: depth + 1) else { return false }
                skipSpace()
                guard i < p.count else { return false }
                if p[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                if p[i] == UInt8(ascii: "]") {
                    i += 1
                    return true
                }
                return false
            }
        }

        /// A string starting at `i`; returns its raw content (escapes left as they are).
        mutating func string() -> ArraySlice<UInt8>? {
            i += 1
            let start = i
            while i < p.count {
                let b = p[i]
                if b == UInt8(ascii: "\"") {
                    let s = ArraySlice(UnsafeRawBufferPointer(rebasing: p[start..<i]))
                    i += 1
                    return s
                }
                if b == UInt8(ascii: "\\") { i += 1 } else if b < 0x20 { return nil }
                i += 1
            }
            return nil
        }

        mutating func scalar() -> Bool {
            let start = i
            while i < p.count {
                let b = p[i]
                if b == UInt8(ascii: ",") || b == UInt8(ascii: "}") || b == UInt8(ascii: "]") || b == 0x20 || b == 0x0A
                    || b == 0x0D || b == 0x09
                {
                    break
                }
                i += 1
            }
            let word = UnsafeRawBufferPointer(rebasing: p[start..<i])
            if word.elementsEqual("true".utf8) || word.elementsEqual("false".utf8) || word.elementsEqual("null".utf8) {
                return true
            }
            guard !word.isEmpty else { return false }
            return word.allSatisfy {
                ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x2B || $0 == 0x2E || $0 | 0x20 == 0x65
            }
        }
    }
}
