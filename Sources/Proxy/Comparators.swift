import CTextScan
import Glibc

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
            completionTokens: capture.usage?.completion)
    }
}

/// The built-in comparators for a served/shadow pair (issue 6, shadow scoring): agreement of
/// status and finish reason, JSON validity when the request asked for JSON, exact match, token
/// similarity (ROUGE-L F1 and Jaccard), length ratio, refusal and empty answers, latency, TTFT
/// and usage deltas.
///
/// Runs on the event loop after both answers ended (no client waits for it), so it is built to
/// be cheap: words become 64-bit hashes once, ROUGE-L is the bit-parallel LCS (a few word
/// operations per token instead of a table of cells), Jaccard counts both hash lists in one table, and
/// every buffer lives in a `ScoreScratch` reused by the worker. ROUGE-L compares at most
/// `maxTokens` tokens of each answer.
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

    init(served s: AnswerSummary, shadow c: AnswerSummary, wantsJSON: Bool, scratch: ScoreScratch = ScoreScratch()) {
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
        PairScores.tokenHashes(s.text, into: &scratch.served)
        PairScores.tokenHashes(c.text, into: &scratch.shadow)
        let ns = scratch.served.count
        let nc = scratch.shadow.count
        truncated = ns > PairScores.maxTokens || nc > PairScores.maxTokens
        rougeL = PairScores.rougeL(scratch)
        jaccard = PairScores.jaccard(scratch)
        scratch.shrinkAfterLongAnswers()
        lengthRatio = ns == 0 ? nil : Double(nc) / Double(ns)
        servedRefusal = PairScores.isRefusal(s.text)
        shadowRefusal = PairScores.isRefusal(c.text)
        servedEmpty = ns == 0
        shadowEmpty = nc == 0
        latencyDeltaMs = (Double(c.latencyNs) - Double(s.latencyNs)) / 1e6
        if let a = s.ttftNs, let b = c.ttftNs { ttftDeltaMs = (Double(b) - Double(a)) / 1e6 }
        if let a = s.completionTokens, let b = c.completionTokens { completionTokensDelta = b - a }
    }

    /// Valid JSON text (the redactor's walker with nothing to redact validates).
    static func isJSON(_ text: [UInt8]) -> Bool {
        text.withUnsafeBytes { Redactor(paths: []).redact($0) != nil }
    }

    /// The answer's words as 64-bit hashes of their lowercased bytes. A word is a run of letters
    /// and digits (any non-ASCII byte counts as a letter, so UTF-8 words stay whole); punctuation
    /// and spaces separate. Two different words share a hash with odds of about 2⁻⁶⁴.
    ///
    /// `mf_word_hashes` (C, SSE2) finds the words from a bitmap of word bytes made sixteen bytes
    /// at a time and hashes each eight bytes per multiply. The byte-at-a-time loop it replaces
    /// (a table lookup, a shift and a branch per byte, then an `append` per word) was the largest
    /// share of what scoring adds: 21,000 of 54,000 instructions per pair (callgrind over a wrk
    /// run with the bench's answers); for one 379-byte answer, 395 ns against 252 ns now.
    static func tokenHashes(_ text: [UInt8], into out: inout [UInt64]) {
        // Room for the most words the text can hold; the array keeps that size between pairs and
        // is cut to the words found (a count change, no deallocation).
        let room = text.count / 2 + 1
        if out.count < room { out.append(contentsOf: repeatElement(0, count: room - out.count)) }
        let found = text.withUnsafeBufferPointer { p in
            out.withUnsafeMutableBufferPointer { o in mf_word_hashes(p.baseAddress, p.count, o.baseAddress!) }
        }
        out.removeLast(out.count - found)
    }

    /// ROUGE-L F1 over the first `maxTokens` tokens of each answer: the longest common
    /// subsequence against both lengths. Two empty answers agree (1).
    ///
    /// The LCS length is Hyyrö's bit-vector recurrence (2004): one bit per served token,
    /// `V ← (V + (V & M)) | (V & ~M)` for each shadow token, where `M` marks the served positions
    /// holding that token; the LCS is the number of zero bits. With 256 tokens that is 4 words.
    static func rougeL(_ scratch: ScoreScratch) -> Double {
        let n = min(scratch.served.count, maxTokens)
        let m = min(scratch.shadow.count, maxTokens)
        if n == 0 && m == 0 { return 1 }
        if n == 0 || m == 0 { return 0 }
        let lcs = Double(scratch.lcsLength(n: n, m: m))
        let p = lcs / Double(m)
        let r = lcs / Double(n)
        return p + r == 0 ? 0 : 2 * p * r / (p + r)
    }

    /// Jaccard index of the two token sets (whole answers). Two empty answers agree (1).
    static func jaccard(_ scratch: ScoreScratch) -> Double {
        if scratch.served.isEmpty && scratch.shadow.isEmpty { return 1 }
        let (both, union) = scratch.setSizes()
        return union == 0 ? 1 : Double(both) / Double(union)
    }

    /// An answer that opens with a refusal ("I'm sorry", "I can't", "As an AI", ...): as many of
    /// its first bytes as the longest phrase has, lowercased, a curly apostrophe read as a
    /// straight one.
    static func isRefusal(_ text: [UInt8]) -> Bool {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: PairScores.longestRefusal) { head in
            var count = 0
            var i = 0
            while i < text.count, text[i] == 0x20 || text[i] == 0x0A || text[i] == 0x09 { i += 1 }
            while i < text.count && count < PairScores.longestRefusal {
                let b = text[i]
                if b == 0xE2, i + 2 < text.count, text[i + 1] == 0x80, text[i + 2] == 0x99 {
                    head[count] = UInt8(ascii: "'")
                    count += 1
                    i += 3
                    continue
                }
                head[count] = b >= 0x41 && b <= 0x5A ? b | 0x20 : b
                count += 1
                i += 1
            }
            guard count > 0 else { return false }
            for phrase in PairScores.refusals where phrase.count <= count && phrase[0] == head[0] {
                if phrase.withUnsafeBufferPointer({ memcmp(head.baseAddress!, $0.baseAddress!, $0.count) }) == 0 {
                    return true
                }
            }
            return false
        }
    }

    /// As bytes: two answers per pair are checked against each phrase.
    static let refusals: [[UInt8]] = [
        "i'm sorry", "i am sorry", "sorry, i can", "i can't", "i cannot", "i can not", "i won't", "i will not",
        "i'm unable", "i am unable", "i'm not able", "i am not able", "as an ai", "unfortunately, i can",
    ].map { Array($0.utf8) }
    static let longestRefusal = refusals.map(\.count).max()!
}

/// Buffers for scoring pairs, reused by one worker (loop-confined): both answers' token hashes,
/// the LCS match table and the token set table for Jaccard.
final class ScoreScratch {
    var served: [UInt64] = []
    var shadow: [UInt64] = []
    /// Open-addressing set of both answers' tokens: which side(s) each was seen on (bit 0
    /// served, bit 1 shadow; 0 = free slot). Grows to twice the tokens of the largest pair.
    private var setKeys: [UInt64] = []
    private var setSides: [UInt8] = []
    private var setUsed: [Int] = []
    /// Open-addressing table from a served token's hash to the bit mask of its positions
    /// (`words` words per slot); `used` lists the slots to clear for the next pair.
    private var keys = [UInt64](repeating: 0, count: ScoreScratch.slots)
    private var occupied = [Bool](repeating: false, count: ScoreScratch.slots)
    private var masks = [UInt64](repeating: 0, count: ScoreScratch.slots * ScoreScratch.words)
    /// The slots `lcsLength` filled (at most `slots`), to clear for the next pair.
    private var used = [Int](repeating: 0, count: ScoreScratch.slots)
    private var v = [UInt64](repeating: 0, count: ScoreScratch.words)

    static let words = (PairScores.maxTokens + 63) / 64
    static let slots = 2 * PairScores.maxTokens  // load factor at most 1/2
    /// Entries the growing buffers may keep between pairs (128 KiB each): a long answer (the
    /// capture cap is the rules file's choice) grows them for its pair only.
    static let keptEntries = 16 * 1024

    /// Entries held by the buffers that grow with the answers (for tests and the bound above).
    var grownEntries: Int { served.capacity + shadow.capacity + setKeys.count + setUsed.count }

    /// Frees the buffers a long answer grew past `keptEntries`; the next pair starts small again.
    func shrinkAfterLongAnswers() {
        if served.capacity > ScoreScratch.keptEntries { served = [] }
        if shadow.capacity > ScoreScratch.keptEntries { shadow = [] }
        if setKeys.count > ScoreScratch.keptEntries {
            setKeys = []
            setSides = []
            setUsed = []
        }
    }

    /// Distinct tokens on both sides, and in all, of `served` and `shadow`.
    func setSizes() -> (both: Int, union: Int) {
        let need = 2 * (served.count + shadow.count)
        if setKeys.count < need {
            let size = max(64, 1 << (Int.bitWidth - (need - 1).leadingZeroBitCount))
            setKeys = [UInt64](repeating: 0, count: size)
            setSides = [UInt8](repeating: 0, count: size)
            setUsed = [Int](repeating: 0, count: size)
        }
        let mask = setKeys.count - 1
        var both = 0
        var union = 0
        setKeys.withUnsafeMutableBufferPointer { keys in
            setSides.withUnsafeMutableBufferPointer { sides in
                setUsed.withUnsafeMutableBufferPointer { usedSlots in
                    func insert(_ h: UInt64, _ side: UInt8) {
                        var s = Int(truncatingIfNeeded: h) & mask
                        while sides[s] != 0 && keys[s] != h { s = (s + 1) & mask }
                        if sides[s] == 0 {
                            keys[s] = h
                            usedSlots[union] = s
                            union += 1
                        }
                        sides[s] |= side
                    }
                    for h in served { insert(h, 1) }
                    for h in shadow { insert(h, 2) }
                    for s in usedSlots[..<union] {
                        if sides[s] == 3 { both += 1 }
                        sides[s] = 0
                    }
                }
            }
        }
        return (both, union)
    }

    /// Length of the longest common subsequence of `served[..<n]` and `shadow[..<m]`
    /// (n, m ≤ `PairScores.maxTokens`).
    func lcsLength(n: Int, m: Int) -> Int {
        precondition(n <= PairScores.maxTokens && m <= PairScores.maxTokens)
        let w = (n + 63) / 64
        let mask = ScoreScratch.slots - 1
        let words = ScoreScratch.words
        var usedCount = 0
        var ones = 0
        keys.withUnsafeMutableBufferPointer { keys in
            occupied.withUnsafeMutableBufferPointer { occupied in
                masks.withUnsafeMutableBufferPointer { masks in
                    v.withUnsafeMutableBufferPointer { v in
                        used.withUnsafeMutableBufferPointer { used in
                            for i in 0..<n {
                                let h = served[i]
                                var s = Int(truncatingIfNeeded: h) & mask
                                while occupied[s] && keys[s] != h { s = (s + 1) & mask }
                                if !occupied[s] {
                                    occupied[s] = true
                                    keys[s] = h
                                    used[usedCount] = s
                                    usedCount += 1
                                }
                                masks[s * words + i >> 6] |= 1 << UInt64(i & 63)
                            }
                            for k in 0..<w { v[k] = ~0 }
                            for j in 0..<m {
                                let h = shadow[j]
                                var s = Int(truncatingIfNeeded: h) & mask
                                while occupied[s] && keys[s] != h { s = (s + 1) & mask }
                                guard occupied[s] else { continue }  // M = 0 leaves V as it is
                                let row = s * words
                                var carry: UInt64 = 0
                                for k in 0..<w {
                                    let x = v[k]
                                    let mk = masks[row + k]
                                    let u = x & mk
                                    let (s1, o1) = x.addingReportingOverflow(u)
                                    let (s2, o2) = s1.addingReportingOverflow(carry)
                                    carry = o1 || o2 ? 1 : 0
                                    v[k] = s2 | (x & ~mk)
                                }
                            }
                            for k in 0..<w {
                                let bits = k == w - 1 && n & 63 != 0 ? v[k] & ((1 << UInt64(n & 63)) - 1) : v[k]
                                ones += bits.nonzeroBitCount
                            }
                            for s in used[..<usedCount] {
                                occupied[s] = false
                                for k in 0..<words { masks[s * words + k] = 0 }
                            }
                        }
                    }
                }
            }
        }
        return n - ones
    }
}
