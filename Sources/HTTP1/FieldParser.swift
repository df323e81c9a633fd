/// Parses the field lines of a complete head (RFC 9112 §5), shared by requests and responses.
///
/// Strict on purpose: a proxy that accepts what the server behind it reads differently is a
/// smuggling vector. obs-fold, whitespace before the colon or before the first field, empty or
/// non-token names, and control bytes (NUL included) in values are all refused.
enum FieldParser {
    /// - Parameters:
    ///   - head: the head bytes; every CR in it is followed by LF (the scanner checked).
    ///   - from: index of the first field line (just past the start line's CRLF).
    static func parse(
        _ head: UnsafeRawBufferPointer, from: Int, maxFields: Int, into fields: inout [HeaderField]
    ) throws(HTTPError) {
        var s = from
        let n = head.count
        while s < n {
            if head[s] == ASCII.cr { return }  // the empty line ending the head
            if head[s] == ASCII.sp || head[s] == ASCII.tab { throw .obsFold }
            if fields.count == maxFields { throw .tooManyHeaders }
            var i = s
            var underscore = false
            // The name: tchars up to the colon (a CR, LF or any other byte first is an error).
            while i < n && head[i] != ASCII.colon {
                let b = head[i]
                guard ASCII.isTchar(b) else { throw .badHeaderName }
                if b == UInt8(ascii: "_") { underscore = true }
                i += 1
            }
            guard i < n, i > s else { throw .badHeaderName }
            let nameEnd = i
            i += 1
            while i < n && (head[i] == ASCII.sp || head[i] == ASCII.tab) { i += 1 }
            let valueStart = i
            // The value, to the line's CR: one pass that stops only at control bytes and DEL, eight
            // bytes at a time (the loop per byte was most of a head's parse). HTAB is allowed; any
            // other control byte (NUL, a bare LF) is refused.
            while true {
                while i + 8 <= n {
                    let x = ByteMask.load(head, i)
                    let m = ByteMask.control(x) | ByteMask.equal(x, 0x7F)
                    if m != 0 {
                        i += ByteMask.first(m)
                        break
                    }
                    i += 8
                }
                while i < n && head[i] >= 0x20 && head[i] != 0x7F { i += 1 }
                guard i < n else { throw .badHeaderValue }  // (the scanner ends every head with CRLF)
                if head[i] == ASCII.tab {
                    i += 1
                    continue
                }
                guard head[i] == ASCII.cr else { throw .badHeaderValue }
                break
            }
            let e = i
            var valueEnd = e
            while valueEnd > valueStart && (head[valueEnd - 1] == ASCII.sp || head[valueEnd - 1] == ASCII.tab) {
                valueEnd -= 1
            }
            let known = KnownHeader.classify(UnsafeRawBufferPointer(rebasing: head[s..<nameEnd]))
            fields.append(
                HeaderField(
                    nameStart: Int32(s), nameEnd: Int32(nameEnd), valueStart: Int32(valueStart),
                    valueEnd: Int32(valueEnd), known: known, hasUnderscore: underscore))
            s = e + 2
        }
    }

    /// Reads Content-Length fields: every element of every field must be the same 1*DIGIT value.
    static func contentLength(
        _ head: UnsafeRawBufferPointer, _ field: HeaderField, current: Int?
    ) throws(HTTPError) -> Int {
        var result = current
        let ok = ASCII.forEachListElement(UnsafeRawBufferPointer(rebasing: head[field.value])) { el in
            guard let v = ASCII.parseDecimal(el) else { return false }
            if let r = result, r != v { return false }
            result = v
            return true
        }
        guard ok, let value = result else { throw .badContentLength }
        return value
    }

    /// True when a Transfer-Encoding value is exactly one coding, `chunked` (any case).
    static func isExactlyChunked(_ value: UnsafeRawBufferPointer) -> Bool {
        ASCII.equalsLower(value, "chunked")
    }

    /// Reads a Connection field: sets `close` / `keepAlive` and collects the other names it lists.
    static func connectionTokens(
        _ head: UnsafeRawBufferPointer, _ field: HeaderField, close: inout Bool, keepAlive: inout Bool,
        named: inout [Range<Int>]
    ) {
        let base = field.valueStart
        let value = UnsafeRawBufferPointer(rebasing: head[field.value])
        _ = ASCII.forEachListElement(value) { el in
            if el.isEmpty { return true }
            if ASCII.equalsLower(el, "close") {
                close = true
            } else if ASCII.equalsLower(el, "keep-alive") {
                keepAlive = true
            } else {
                let offset = el.baseAddress! - value.baseAddress!
                named.append((Int(base) + offset)..<(Int(base) + offset + el.count))
            }
            return true
        }
    }
}

/// The framing-relevant fields both requests and responses read: Content-Length (all occurrences
/// must agree), Transfer-Encoding (exactly one field, exactly `chunked`), and Connection.
struct FramingFields {
    var contentLength: Int?
    var transferEncodings = 0
    var chunked = false
    var close = false
    var keepAliveToken = false
    var named: [Range<Int>] = []

    /// Reads `f` when it is one of those fields; returns false for any other field.
    mutating func read(_ p: UnsafeRawBufferPointer, _ f: HeaderField) throws(HTTPError) -> Bool {
        switch f.known {
        case .contentLength:
            contentLength = try FieldParser.contentLength(p, f, current: contentLength)
        case .transferEncoding:
            transferEncodings += 1
            chunked = FieldParser.isExactlyChunked(UnsafeRawBufferPointer(rebasing: p[f.value]))
            guard chunked, transferEncodings == 1 else { throw .badTransferEncoding }
        case .connection:
            FieldParser.connectionTokens(p, f, close: &close, keepAlive: &keepAliveToken, named: &named)
        default:
            return false
        }
        return true
    }
}
