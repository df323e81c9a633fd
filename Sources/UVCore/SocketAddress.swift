import CLibUV

/// An IPv4 or IPv6 socket address, parsed from `HOST:PORT` or `[V6]:PORT`.
///
/// `localhost` means 127.0.0.1; other names are resolved once with getaddrinfo (cold path only).
public struct SocketAddress: Sendable, CustomStringConvertible {
    var storage: sockaddr_storage

    public enum ParseError: Error, CustomStringConvertible {
        case invalid(String)
        public var description: String {
            switch self {
            case .invalid(let s):
                return "invalid address '\(s)': expected HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)"
            }
        }
    }

    public init(_ text: String) throws(ParseError) {
        var host: Substring
        var portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw .invalid(text) }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw .invalid(text) }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw .invalid(text) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let port = UInt16(portText) else { throw .invalid(text) }
        if host == "localhost" || host.isEmpty { host = "127.0.0.1" }
        storage = sockaddr_storage()
        let hostString = String(host)
        let ok: Bool = withUnsafeMutablePointer(to: &storage) { p in
            if uv_ip4_addr(
                hostString, Int32(port), UnsafeMutableRawPointer(p).assumingMemoryBound(to: sockaddr_in.self)) == 0
            {
                return true
            }
            if uv_ip6_addr(
                hostString, Int32(port), UnsafeMutableRawPointer(p).assumingMemoryBound(to: sockaddr_in6.self)) == 0
            {
                return true
            }
            return false
        }
        if !ok {
            guard let resolved = SocketAddress.resolve(hostString, port: port) else { throw .invalid(text) }
            storage = resolved
        }
    }

    init(storage: sockaddr_storage) { self.storage = storage }

    private static func resolve(_ host: String, port: UInt16) -> sockaddr_storage? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else { return nil }
        defer { freeaddrinfo(result) }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { dst in
            dst.copyMemory(
                from: UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen)))
        }
        return storage
    }

    public var family: Int32 { Int32(storage.ss_family) }

    public var port: UInt16 {
        get {
            withUnsafeBytes(of: storage) { p in
                if family == AF_INET6 {
                    return UInt16(bigEndian: p.load(as: sockaddr_in6.self).sin6_port)
                }
                return UInt16(bigEndian: p.load(as: sockaddr_in.self).sin_port)
            }
        }
        set {
            let isV6 = family == AF_INET6
            withUnsafeMutableBytes(of: &storage) { p in
                if isV6 {
                    p.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self).pointee.sin6_port = newValue.bigEndian
                } else {
                    p.baseAddress!.assumingMemoryBound(to: sockaddr_in.self).pointee.sin_port = newValue.bigEndian
                }
            }
        }
    }

    var length: socklen_t {
        family == AF_INET6 ? socklen_t(MemoryLayout<sockaddr_in6>.size) : socklen_t(MemoryLayout<sockaddr_in>.size)
    }

    /// The host part only (no port), e.g. `127.0.0.1` or `::1`.
    public var host: String {
        var buf = [CChar](repeating: 0, count: 64)
        withUnsafeBytes(of: storage) { p in
            if family == AF_INET6 {
                _ = uv_ip6_name(p.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self), &buf, buf.count)
            } else {
                _ = uv_ip4_name(p.baseAddress!.assumingMemoryBound(to: sockaddr_in.self), &buf, buf.count)
            }
        }
        let n = buf.firstIndex(of: 0) ?? buf.count
        return String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var description: String { family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>) -> R) -> R {
        withUnsafeBytes(of: storage) { body($0.baseAddress!.assumingMemoryBound(to: sockaddr.self)) }
    }

    /// The address and its length, for plain socket calls (`connect`) in cold paths such as the CLI.
    public func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        let length = family == AF_INET6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size
        return withUnsafeBytes(of: storage) {
            body($0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(length))
        }
    }
}
