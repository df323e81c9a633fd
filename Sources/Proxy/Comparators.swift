/// What one side of a served/shadow pair answered, kept until its twin ends.
struct AnswerSummary {
    var status = 0
    var outcome: Outcome = .ok
    var text: [UInt8] = []
    var finishReason: [UInt8]?
    var latencyNs: UInt64 = 0
    var ttftNs: UInt64?
    var completionTokens: Int?
}

extension AnswerSummary {
    /// One side of an exchange as its notes and captured answer tell it.
    init(notes: ExchangeNotes, outcome: Outcome, capture: ResponseCapture, endNs: UInt64) {
        self.init(
            status: notes.status, outcome: outcome, text: capture.answer.text,
            finishReason: capture.answer.finishReason,
            latencyNs: endNs >= notes.startNs ? endNs - notes.startNs : 0,
            ttftNs: notes.streamed && notes.firstByteNs != 0 ? notes.firstByteNs - notes.startNs : nil,
            completionTokens: Usage.find(in: capture.tail)?.completion)
    }
}

/// The built-in comparators for a served/shadow pair (issue 6, shadow scoring): agreement of
/// status and finish reason, JSON validity when the request asked for JSON, exact match, token
/// similarity (ROUGE-L F1 and Jaccard), length ratio, refusal and empty answers, latency, TTFT
/// and usage deltas. Byte scans; no allocation beyond the token lists.
///
/// Runs on the event loop after both answers ended (no client waits for it). ROUGE-L is
/// quadratic, so it compares at most `maxTokens` tokens of each answer (about 65 k cells).
struct PairScores {
    var statusMatch: Bool
    var finishReasonMatch: Bool?
    /// Only when the request asked for JSON (`response_format`).
    var servedJSONValid: Bool?
    var shadowJSONValid: Bool?
    var exactMatch: Bool
    var rougeL: Double
    var jaccard: Double
    var lengthRatio: Double?
    var servedRefusal: Bool
    var shadowRefusal: Bool
    var servedEmpty: Bool
    var shadowEmpty: Bool
    var latencyDeltaMs: Double
    var ttftDeltaMs: Double?
    var completionTokensDelta: Int?
    /// ROUGE-L saw only the first `maxTokens` tokens of an answer.
    var truncated: Bool

    static let maxTokens = 256

    init(served s: AnswerSummary, shadow c: AnswerSummary, wantsJSON: Bool) {
        statusMatch = s.status == c.status
        if let a = s.finishReason, let b = c.finishReason {
            finishReasonMatch = a == b
        } else {
            finishReasonMatch = nil
        }
        if wantsJSON {
            servedJSONValid = PairScores.isJSON(s.text)
            shadowJSONValid = PairScores.isJSON(c.text)
        }
        exactMatch = s.text == c.text
        let ts = Tokens(s.text)
        let tc = Tokens(c.text)
        truncated = ts.count > PairScores.maxTokens || tc.count > PairScores.maxTokens
        rougeL = PairScores.rougeL(ts, tc)
        jaccard = PairScores.jaccard(ts, tc)
        lengthRatio = ts.count == 0 ? nil : Double(tc.count) / Double(ts.count)
        servedRefusal = PairScores.isRefusal(s.text)
        shadowRefusal = PairScores.isRefusal(c.text)
        servedEmpty = ts.count == 0
        shadowEmpty = tc.count == 0
        latencyDeltaMs = (Double(c.latencyNs) - Double(s.latencyNs)) / 1e6
        if let a = s.ttftNs, let b = c.ttftNs { ttftDeltaMs = (Double(b) - Double(a)) / 1e6 }
        if let a = s.completionTokens, let b = c.completionTokens { completionTokensDelta = b - a }
    }

    /// Valid JSON text (the redactor's walker with nothing to redact validates).
    static func isJSON(_ text: [UInt8]) -> Bool {
        text.withUnsafeBytes { Redactor(paths: []).redact($0) != nil }
    }

    /// Lowercased word tokens: runs of letters and digits (any non-ASCII byte counts as a letter,
    /// so UTF-8 words stay whole); punctuation and spaces separate.
    struct Tokens {
        var ranges: [Range<Int>] = []
        let bytes: [UInt8]
        var count: Int { ranges.count }

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
            var start = -1
            for (i, b) in bytes.enumerated() {
                let word = b >= 0x80 || (b >= 0x30 && b <= 0x39) || ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A)
                if word {
                    if start < 0 { start = i }
                } else if start >= 0 {
                    ranges.append(start..<i)
                    start = -1
                }
            }
            if start >= 0 { ranges.append(start..<bytes.count) }
        }

        func equal(_ i: Int, _ other: Tokens, _ j: Int) -> Bool {
            let a = ranges[i]
            let b = other.ranges[j]
            guard a.count == b.count else { return false }
            var x = a.lowerBound
            var y = b.lowerBound
            while x < a.upperBound {
                let p = bytes[x]
                let q = other.bytes[y]
                if p != q
                    && !(p < 0x80 && q < 0x80 && (p | 0x20) == (q | 0x20) && (p | 0x20) >= 0x61 && (p | 0x20) <= 0x7A)
                {
                    return false
                }
                x += 1
                y += 1
            }
            return true
        }

        /// FNV-1a of the lowercased token, for set operations.
        func hash(_ i: Int) -> UInt64 {
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for k in ranges[i] {
                var b = bytes[k]
                if b < 0x80 && (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A { b |= 0x20 }
                h ^= UInt64(b)
                h &*= 0x100_0000_01b3
            }
            return h
        }
    }

    /// ROUGE-L F1 over the first `maxTokens` tokens of each answer: the longest common
    /// subsequence against both lengths. Two empty answers agree (1).
    static func rougeL(_ a: Tokens, _ b: Tokens) -> Double {
        let n = min(a.count, maxTokens)
        let m = min(b.count, maxTokens)
        if n == 0 && m == 0 { return 1 }
        if n == 0 || m == 0 { return 0 }
        var prev = [UInt16](repeating: 0, count: m + 1)
        var cur = [UInt16](repeating: 0, count: m + 1)
        for i in 0..<n {
            for j in 0..<m {
                cur[j + 1] = a.equal(i, b, j) ? prev[j] + 1 : max(prev[j + 1], cur[j])
            }
            swap(&prev, &cur)
        }
        let lcs = Double(prev[m])
        let p = lcs / Double(m)
        let r = lcs / Double(n)
        return p + r == 0 ? 0 : 2 * p * r / (p + r)
    }

    /// Jaccard index of the two token sets. Two empty answers agree (1).
    static func jaccard(_ a: Tokens, _ b: Tokens) -> Double {
        if a.count == 0 && b.count == 0 { return 1 }
        let x = Set((0..<a.count).map { a.hash($0) })
        let y = Set((0..<b.count).map { b.hash($0) })
        let union = x.union(y).count
        return union == 0 ? 1 : Double(x.intersection(y).count) / Double(union)
    }

    /// An answer that opens with a refusal ("I'm sorry", "I can't", "As an AI", ...).
    static func isRefusal(_ text: [UInt8]) -> Bool {
        var head: [UInt8] = []
        var i = 0
        while i < text.count, text[i] == 0x20 || text[i] == 0x0A || text[i] == 0x09 { i += 1 }
        while i < text.count && head.count < 48 {
            let b = text[i]
            if b == 0xE2, i + 2 < text.count, text[i + 1] == 0x80, text[i + 2] == 0x99 {
                head.append(UInt8(ascii: "'"))  // a curly apostrophe
                i += 3
                continue
            }
            head.append(b >= 0x41 && b <= 0x5A ? b | 0x20 : b)
            i += 1
        }
        for phrase in PairScores.refusals where head.starts(with: phrase.utf8) { return true }
        return false
    }

    static let refusals = [
        "i'm sorry", "i am sorry", "sorry, i can", "i can't", "i cannot", "i can not", "i won't", "i will not",
        "i'm unable", "i am unable", "i'm not able", "i am not able", "as an ai", "unfortunately, i can",
    ]
}
