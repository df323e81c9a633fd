/// A parsed response head from an upstream. Owns a copy of the head bytes.
///
/// Malformed or ambiguous responses (bad status line, Content-Length with Transfer-Encoding,
/// conflicting lengths, a coding other than chunked) are refused: the proxy answers 502 and never
/// reuses that connection.
public struct ResponseHead: MessageHead {
    public var bytes: [UInt8]
    public var status: Int
    /// The reason phrase (may be empty).
    public var reason: Range<Int>
    public var isHTTP10: Bool
    public var fields: [HeaderField]
    public var contentLength: Int?
    public var chunked: Bool
    /// The server will keep the connection open after this response.
    public var keepAlive: Bool
    public var connectionNamed: [Range<Int>]

    public static func parseHead(
        bytes: [UInt8], _ p: UnsafeRawBufferPointer, limits: Limits, fields: inout [HeaderField]
    ) throws(HTTPError) -> ResponseHead {
        // status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ]
        guard p.count >= 12, ASCII.equalsLower(UnsafeRawBufferPointer(rebasing: p[0..<7]), "http/1."),
            p[0] == UInt8(ascii: "H"), p[7] == UInt8(ascii: "0") || p[7] == UInt8(ascii: "1"), p[8] == ASCII.sp
        else { throw .badVersion }
        var status = 0
        for i in 9..<12 {
            guard let d = ASCII.hexValue(p[i]), d < 10 else { throw .badRequestLine }
            status = status * 10 + d
        }
        guard status >= 100 else { throw .badRequestLine }
        var i = 12
        var reasonStart = 12
        if p[i] == ASCII.sp {
            i += 1
            reasonStart = i
            while i < p.count && p[i] != ASCII.cr {
                guard ASCII.isFieldValueByte(p[i]) else { throw .badHeaderValue }
                i += 1
            }
        } else if p[i] != ASCII.cr {
            throw .badRequestLine
        }
        let reason = reasonStart..<i
        let isHTTP10 = p[7] == UInt8(ascii: "0")
        try FieldParser.parse(p, from: i + 2, maxFields: limits.maxHeaders, into: &fields)
        var framingFields = FramingFields()
        for f in fields { _ = try framingFields.read(p, f) }
        let (contentLength, chunked, close, keepAliveToken, named) = (
            framingFields.contentLength, framingFields.chunked, framingFields.close, framingFields.keepAliveToken,
            framingFields.named
        )
        if chunked && contentLength != nil { throw .lengthAndChunked }
        return ResponseHead(
            bytes: bytes, status: status, reason: reason, isHTTP10: isHTTP10, fields: fields,
            contentLength: contentLength, chunked: chunked,
            keepAlive: isHTTP10 ? (keepAliveToken && !close) : !close, connectionNamed: named)
    }

    /// How the body is delimited, given the request method (RFC 9112 §6.3).
    public func framing(requestWasHEAD: Bool) -> BodyFraming {
        if requestWasHEAD || status < 200 || status == 204 || status == 304 { return .none }
        if chunked { return .chunked }
        if let length = contentLength { return length == 0 ? .none : .length(length) }
        return .untilClose
    }
}
