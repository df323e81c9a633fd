/// What request and response heads share: their bytes, parsed fields, and the names their
/// `Connection` field lists. Parsing into reused storage and field lookups live here once.
public protocol MessageHead: Sendable {
    var bytes: [UInt8] { get }
    var fields: [HeaderField] { get }
    var connectionNamed: [Range<Int>] { get }

    /// Parses the head in `p` (a view of `bytes`), appending its fields to `fields`.
    static func parseHead(bytes: [UInt8], _ p: UnsafeRawBufferPointer, limits: Limits, fields: inout [HeaderField])
        throws(HTTPError) -> Self
}

extension MessageHead {
    /// Parses a complete head: `buf` runs from the start line to the final CRLF included.
    public static func parse(_ buf: UnsafeRawBufferPointer, limits: Limits) throws(HTTPError) -> Self {
        var storage = HeadStorage()
        return try parse(buf, limits: limits, storage: &storage)
    }

    /// Parses into reused storage: once the previous head built from `storage` is gone, parsing
    /// allocates nothing (the arrays are unique again and keep their capacity).
    public static func parse(_ buf: UnsafeRawBufferPointer, limits: Limits, storage: inout HeadStorage)
        throws(HTTPError) -> Self
    {
        storage.bytes.removeAll(keepingCapacity: true)
        storage.bytes.append(contentsOf: buf)
        storage.fields.removeAll(keepingCapacity: true)
        let bytes = storage.bytes
        let result = bytes.withUnsafeBytes { p in
            Result { () throws(HTTPError) -> Self in
                try parseHead(bytes: bytes, p, limits: limits, fields: &storage.fields)
            }
        }
        return try result.get()
    }

    /// Whether field `f` is named in this head's Connection field (and so is hop-by-hop).
    public func isConnectionNamed(_ f: HeaderField) -> Bool {
        if connectionNamed.isEmpty { return false }
        return bytes.withUnsafeBytes { p in
            let name = UnsafeRawBufferPointer(rebasing: p[f.name])
            for r in connectionNamed where ASCII.equalsIgnoringCase(name, UnsafeRawBufferPointer(rebasing: p[r])) {
                return true
            }
            return false
        }
    }

    /// Where the value of the first field named `lowercaseName` (in any case in the head) sits in
    /// `bytes`: the request path's header lookups (targeting rules), without a `String`.
    @inlinable
    public func valueRange(ofField lowercaseName: UnsafeRawBufferPointer) -> Range<Int>? {
        bytes.withUnsafeBytes { p in
            for f in fields
            where Int(f.nameEnd - f.nameStart) == lowercaseName.count
                && ASCII.equalsLower(UnsafeRawBufferPointer(rebasing: p[f.name]), lowercaseName)
            {
                return f.value
            }
            return nil
        }
    }

    /// The first value of a header by lowercase name (cold paths and tests).
    public func value(of lowercaseName: String) -> String? {
        var name = lowercaseName
        return name.withUTF8 { valueRange(ofField: UnsafeRawBufferPointer($0)) }.map {
            String(decoding: bytes[$0], as: UTF8.self)
        }
    }
}
