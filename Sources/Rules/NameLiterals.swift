import HTTP1

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

    /// `s` as a JSON string (`JSONText`: quote, backslash and control characters escaped).
    public static func literal(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        JSONText.appendString(&out, s.utf8)
        return out
    }
}
