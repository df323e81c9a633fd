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
            var e = s
            while e < n && head[e] != ASCII.cr { e += 1 }
            if e == s { return }  // the empty line ending the head
            if head[s] == ASCII.sp || head[s] == ASCII.tab { throw .obsFold }
            if fields.count == maxFields { throw .tooManyHeaders }
            var i = s
            var underscore = false
            while i < e && head[i] != ASCII.colon {
                let b = head[i]
                guard ASCII.isTchar(b) else { throw .badHeaderName }
                if b == UInt8(ascii: "_") { underscore = true }
                i += 1
            }
            guard i < e, i > s else { throw .badHeaderName }
            let nameEnd = i
            i += 1
            while i < e && (head[i] == ASCII.sp || head[i] == ASCII.tab) { i += 1 }
            let valueStart = i
            var valueEnd = i
            while i < e {
                let b = head[i]
                guard ASCII.isFieldValueByte(b) else { throw .badHeaderValue }
                i += 1
                if b != ASCII.sp && b != ASCII.tab { valueEnd = i }
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
