/// How a message body is delimited (RFC 9112 §6).
public enum BodyFraming: Equatable, Sendable {
    case none
    case length(Int)
    case chunked
    /// Responses only: the body ends when the server closes.
    case untilClose
}

/// A parsed request head. Owns a copy of the head bytes; every range indexes into `bytes`.
///
/// Parsing decides everything framing depends on, once: a request that is ambiguous in any way
/// (RFC 9112 §6.3, §11.2) is refused here and never reaches the forwarder.
public struct RequestHead: MessageHead {
    public var bytes: [UInt8]
    public var method: Range<Int>
    public var target: Range<Int>
    public var isHTTP10: Bool
    public var isHEAD: Bool
    public var fields: [HeaderField]
    public var framing: BodyFraming
    /// The client allows the connection to stay open after this exchange.
    public var keepAlive: Bool
    public var expectContinue: Bool
    /// Header names listed in `Connection` (besides close/keep-alive): hop-by-hop, stripped.
    public var connectionNamed: [Range<Int>]
    /// Index in `fields` of the client's X-Request-Id, if it sent a usable one.
    public var requestIdField: Int?

    public static func parseHead(
        bytes: [UInt8], _ p: UnsafeRawBufferPointer, limits: Limits, fields: inout [HeaderField]
    ) throws(HTTPError) -> RequestHead {
        // Request line: method SP request-target SP HTTP-version CRLF, single spaces.
        var i = 0
        let n = p.count
        while i < n && p[i] != ASCII.sp && p[i] != ASCII.cr {
            guard ASCII.isTchar(p[i]) else { throw .badMethod }
            i += 1
        }
        guard i > 0, i < n, p[i] == ASCII.sp else { throw .badRequestLine }
        let method = 0..<i
        i += 1
        let targetStart = i
        while i < n && p[i] != ASCII.sp && p[i] != ASCII.cr {
            let b = p[i]
            guard b > 0x20 && b < 0x7F else { throw .badTarget }
            i += 1
        }
        guard i > targetStart else { throw .badRequestLine }
        guard i < n, p[i] == ASCII.sp else {
            throw .badRequestLine  // HTTP/0.9 (no version) or garbage
        }
        let target = targetStart..<i
        i += 1
        let versionStart = i
        while i < n && p[i] != ASCII.cr { i += 1 }
        let version = UnsafeRawBufferPointer(rebasing: p[versionStart..<i])
        let isHTTP10: Bool
        if ASCII.equalsLower(version, "http/1.1") && version[0] == UInt8(ascii: "H") {
            isHTTP10 = false
        } else if ASCII.equalsLower(version, "http/1.0") && version[0] == UInt8(ascii: "H") {
            isHTTP10 = true
        } else if version.count == 8, version[0] == UInt8(ascii: "H"),
            ASCII.equalsLower(UnsafeRawBufferPointer(rebasing: version[0..<5]), "http/"),
            ASCII.hexValue(version[5]).map({ $0 < 10 }) == true, version[6] == UInt8(ascii: "."),
            ASCII.hexValue(version[7]).map({ $0 < 10 }) == true
        {
            throw .versionNotSupported
        } else {
            throw .badVersion
        }
        let methodBytes = UnsafeRawBufferPointer(rebasing: p[method])
        if methodBytes.elementsEqual("CONNECT".utf8) { throw .methodNotAllowed }
        let isHEAD = methodBytes.elementsEqual("HEAD".utf8)
        // Targets: origin-form, absolute-form (http/https) or "*" for OPTIONS.
        let first = p[targetStart]
        if first != UInt8(ascii: "/") {
            let t = UnsafeRawBufferPointer(rebasing: p[target])
            let isStar = t.count == 1 && first == UInt8(ascii: "*") && methodBytes.elementsEqual("OPTIONS".utf8)
            let isAbsolute =
                (t.count > 7 && ASCII.equalsLower(UnsafeRawBufferPointer(rebasing: t[0..<7]), "http://"))
                || (t.count > 8 && ASCII.equalsLower(UnsafeRawBufferPointer(rebasing: t[0..<8]), "https://"))
            guard isStar || isAbsolute else { throw .badTarget }
        }

        try FieldParser.parse(p, from: i + 2, maxFields: limits.maxHeaders, into: &fields)

        var framingFields = FramingFields()
        var hosts = 0
        var expectContinue = false
        var requestIdField: Int?
        for (index, f) in fields.enumerated() {
            if try framingFields.read(p, f) { continue }
            switch f.known {
            case .host:
                hosts += 1
                for b in UnsafeRawBufferPointer(rebasing: p[f.value])
                where b == ASCII.comma || b == ASCII.sp || b == ASCII.tab {
                    throw .badHost
                }
            case .expect:
                guard ASCII.equalsLower(UnsafeRawBufferPointer(rebasing: p[f.value]), "100-continue") else {
                    throw .expectationFailed
                }
                expectContinue = true
            case .xRequestId:
                if isUsableRequestId(UnsafeRawBufferPointer(rebasing: p[f.value])) && requestIdField == nil {
                    requestIdField = index
                }
            default:
                break
            }
        }
        let (contentLength, chunked, close, keepAliveToken, named) = (
            framingFields.contentLength, framingFields.chunked, framingFields.close, framingFields.keepAliveToken,
            framingFields.named
        )
        if framingFields.transferEncodings > 0 {
            if isHTTP10 { throw .transferEncodingInHTTP10 }
            if contentLength != nil { throw .lengthAndChunked }
        }
        if hosts > 1 || (hosts == 0 && !isHTTP10) { throw .badHost }
        let framing: BodyFraming
        if chunked {
            framing = .chunked
        } else if let length = contentLength, length > 0 {
            framing = .length(length)
        } else {
            framing = .none
        }
        if case .length(let length) = framing, length > limits.maxBody { throw .bodyTooLarge }
        return RequestHead(
            bytes: bytes, method: method, target: target, isHTTP10: isHTTP10, isHEAD: isHEAD,
            fields: fields, framing: framing,
            keepAlive: isHTTP10 ? (keepAliveToken && !close) : !close,
            expectContinue: expectContinue && !isHTTP10, connectionNamed: named, requestIdField: requestIdField)
    }

    /// A request id is passed through only when it is short and plain (it lands in logs and records).
    static func isUsableRequestId(_ v: UnsafeRawBufferPointer) -> Bool {
        guard v.count > 0 && v.count <= 128 else { return false }
        for b in v {
            let ok = ASCII.isTchar(b) || b == UInt8(ascii: ":") || b == UInt8(ascii: "/") || b == UInt8(ascii: "=")
            if !ok { return false }
        }
        return true
    }

    public var methodString: String { String(decoding: bytes[method], as: UTF8.self) }
    public var targetString: String { String(decoding: bytes[target], as: UTF8.self) }
}
