/// The rule set's names as JSON string literals (quoted and escaped), made when the rules load:
/// every output record carries a flag, variants, a model version, an upstream, the revision, a
/// key source and segments, and escaping each from a `String` on every exchange cost about a
/// microsecond of instructions per record. Indices follow `RuleSet`'s arrays.
public struct NameLiterals: Sendable {
    public let flagKeys: [[UInt8]]
    /// Per flag, per variant.
    public let variants: [[[UInt8]]]
    /// Per flag, per segment (`Flag.segments` order).
    public let segments: [[[UInt8]]]
    public let upstreams: [[UInt8]]
    public let modelVersions: [[UInt8]]
    public let revision: [UInt8]
    public let keySources: [[UInt8]]

    init(flags: [Flag], upstreams: [UpstreamSpec], revision: String, keySources: [String]) {
        flagKeys = flags.map { NameLiterals.literal($0.key) }
        variants = flags.map { $0.variants.map { NameLiterals.literal($0.name) } }
        segments = flags.map { $0.segments.map { NameLiterals.literal($0.name) } }
        self.upstreams = upstreams.map { NameLiterals.literal($0.name) }
        modelVersions = upstreams.map { NameLiterals.literal($0.modelVersion) }
        self.revision = NameLiterals.literal(revision)
        self.keySources = keySources.map { NameLiterals.literal($0) }
    }

    /// `s` as a JSON string (RFC 8259): quote, backslash and control characters escaped; the
    /// rest is the string's UTF-8, valid by construction.
    public static func literal(_ s: String) -> [UInt8] {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = [0x22]
        for b in s.utf8 {
            switch b {
            case 0x22, 0x5C: out += [0x5C, b]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0..<0x20: out += [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]]
            default: out.append(b)
            }
        }
        out.append(0x22)
        return out
    }
}
