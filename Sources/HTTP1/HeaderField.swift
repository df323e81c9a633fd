/// Header names the proxy acts on. Classified once while parsing, so later passes compare a tag.
public enum KnownHeader: UInt8, Sendable {
    case other
    case host
    case contentLength
    case transferEncoding
    case connection
    case keepAlive
    case te
    case trailer
    case upgrade
    case proxyConnection
    /// Any other `Proxy-*` field (Proxy-Authorization, Proxy-Authenticate…): hop-by-hop here.
    case proxyOther
    case expect
    case xForwardedFor
    case xForwardedProto
    case xRequestId
    case contentType

    /// Hop-by-hop fields (RFC 9110 §7.6.1) and our framing fields: never forwarded as received.
    public var isHopByHop: Bool {
        switch self {
        case .connection, .keepAlive, .te, .trailer, .upgrade, .proxyConnection, .proxyOther,
            .transferEncoding, .contentLength:
            return true
        default:
            return false
        }
    }

    static func classify(_ name: UnsafeRawBufferPointer) -> KnownHeader {
        switch name.count {
        case 2: return ASCII.equalsLower(name, "te") ? .te : .other
        case 4: return ASCII.equalsLower(name, "host") ? .host : .other
        case 6: return ASCII.equalsLower(name, "expect") ? .expect : .other
        case 7:
            if ASCII.equalsLower(name, "upgrade") { return .upgrade }
            if ASCII.equalsLower(name, "trailer") { return .trailer }
        case 10:
            if ASCII.equalsLower(name, "connection") { return .connection }
            if ASCII.equalsLower(name, "keep-alive") { return .keepAlive }
        case 12:
            if ASCII.equalsLower(name, "content-type") { return .contentType }
            if ASCII.equalsLower(name, "x-request-id") { return .xRequestId }
        case 14: if ASCII.equalsLower(name, "content-length") { return .contentLength }
        case 15: if ASCII.equalsLower(name, "x-forwarded-for") { return .xForwardedFor }
        case 16: if ASCII.equalsLower(name, "proxy-connection") { return .proxyConnection }
        case 17:
            if ASCII.equalsLower(name, "transfer-encoding") { return .transferEncoding }
            if ASCII.equalsLower(name, "x-forwarded-proto") { return .xForwardedProto }
        default: break
        }
        if name.count > 6, ASCII.equalsLower(UnsafeRawBufferPointer(rebasing: name[0..<6]), "proxy-") {
            return .proxyOther
        }
        return .other
    }
}

/// One header field: offsets of its name and (OWS-trimmed) value inside the head's bytes.
public struct HeaderField: Sendable {
    public var nameStart: Int32
    public var nameEnd: Int32
    public var valueStart: Int32
    public var valueEnd: Int32
    public var known: KnownHeader
    /// The name holds `_`: dropped when forwarding, because some servers fold `_` into `-`
    /// (so `Transfer_Encoding` could become framing behind us).
    public var hasUnderscore: Bool

    public var name: Range<Int> { Int(nameStart)..<Int(nameEnd) }
    public var value: Range<Int> { Int(valueStart)..<Int(valueEnd) }
    /// The whole line without its CRLF: `name: value`.
    public var line: Range<Int> { Int(nameStart)..<Int(valueEnd) }
}

/// Reusable arrays for parsing heads (one per connection), so steady-state parsing does not allocate.
public struct HeadStorage: Sendable {
    public var bytes: [UInt8] = []
    public var fields: [HeaderField] = []

    public init() {
        bytes.reserveCapacity(2048)
        fields.reserveCapacity(24)
    }
}
