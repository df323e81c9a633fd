import Rules

/// Deterministic "model output": the same prompt and model name always give the same words.
enum Content {
    static let vocabulary = [
        "the", "model", "answers", "your", "question", "with", "care", "and", "a", "short", "list", "of",
        "steps", "first", "check", "settings", "then", "retry", "request", "carefully", "because", "latency",
        "matters", "here", "so", "we", "keep", "it", "simple", "clear", "fast", "done",
    ]

    /// FNV-1a over the bytes, mixed with the model name so two models answer differently.
    static func seed(_ body: [UInt8], model: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in body {
            h ^= UInt64(b)
            h &*= 0x100_0000_01b3
        }
        for b in model.utf8 {
            h ^= UInt64(b)
            h &*= 0x100_0000_01b3
        }
        return h
    }

    static func words(seed: UInt64, count: Int) -> [String] {
        var s = seed
        var out: [String] = []
        out.reserveCapacity(count)
        for _ in 0..<count {
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            out.append(vocabulary[Int((s >> 33) % UInt64(vocabulary.count))])
        }
        return out
    }

    /// Index of the first byte of the value of the first `"key":` in a JSON body, or nil (a byte
    /// scan: good enough for a stand-in, which only reads `stream` and `model`).
    static func valueStart(_ key: String, in body: [UInt8]) -> Int? {
        let k = Array("\"\(key)\"".utf8)
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        var i = 0
        while i + k.count <= body.count {
            if body[i] == k[0] && body[i..<(i + k.count)].elementsEqual(k) {
                var j = i + k.count
                while j < body.count && isSpace(body[j]) { j += 1 }
                guard j < body.count, body[j] == UInt8(ascii: ":") else { return nil }
                j += 1
                while j < body.count && isSpace(body[j]) { j += 1 }
                return j < body.count ? j : nil
            }
            i += 1
        }
        return nil
    }

    /// Whether the body has `"stream": true`.
    static func wantsStream(_ body: [UInt8]) -> Bool {
        guard let j = valueStart("stream", in: body) else { return false }
        return body[j...].starts(with: "true".utf8)
    }

    /// The request's top-level `"model"` string (first occurrence; enough for a stand-in to echo).
    static func requestedModel(_ body: [UInt8]) -> String? {
        guard let j = valueStart("model", in: body), body[j] == UInt8(ascii: "\"") else { return nil }
        let s = j + 1
        var e = s
        while e < body.count && body[e] != UInt8(ascii: "\"") && body[e] != UInt8(ascii: "\\") { e += 1 }
        return String(decoding: body[s..<e], as: UTF8.self)
    }

    /// FNV-1a 64 of the body, hex: lets tests compare the bytes two upstreams received.
    static func fnv64Hex(_ body: [UInt8]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in body {
            h ^= UInt64(b)
            h &*= 0x100_0000_01b3
        }
        return String(h, radix: 16)
    }

    static func contains(_ body: [UInt8], _ pattern: [UInt8]) -> Bool {
        guard !pattern.isEmpty, body.count >= pattern.count else { return false }
        for i in 0...(body.count - pattern.count) where body[i] == pattern[0] {
            if body[i..<(i + pattern.count)].elementsEqual(pattern) { return true }
        }
        return false
    }

    /// Replaces a `share` of the words (the same ones for the same request) with others.
    static func degrade(_ words: [String], seed: UInt64, share: Double) -> [String] {
        var s = seed ^ 0x5DEE_CE66_D1CE_4E5B
        return words.map { w in
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            guard Double((s >> 11) % 1000) < share * 1000 else { return w }
            return "x" + vocabulary[Int((s >> 33) % UInt64(vocabulary.count))]
        }
    }

    /// A stand-in evaluator (`POST /v1/evaluate`): `quality` is the share of the shadow answer's
    /// words that were not degraded (`--degrade` marks the words it replaces), so a candidate
    /// degraded on one segment scores lower there, the way a judge model would say it.
    static func evaluate(_ body: [UInt8]) -> String {
        guard let root = try? JSONParser.parse(body), let text = root["shadow"]?["text"]?.string else {
            return "{\"error\":\"expected {shadow: {text}}\"}\n"
        }
        let words = text.split(separator: " ")
        let degraded = words.filter { $0.hasPrefix("x") }.count
        let quality = words.isEmpty ? 0 : 1 - Double(degraded) / Double(words.count)
        return "{\"scores\":{\"quality\":\(quality)}}\n"
    }
}
