import Testing

@testable import Proxy

struct ComparatorsTests {
    func answer(_ text: String, status: Int = 200, finish: String? = "stop", latencyMs: Double = 10, tokens: Int? = nil)
        -> AnswerSummary
    {
        AnswerSummary(
            status: status, outcome: .ok, text: Array(text.utf8), finishReason: finish.map { Array($0.utf8) },
            latencyNs: UInt64(latencyMs * 1e6), ttftNs: nil, completionTokens: tokens)
    }

    @Test func identicalAnswersAgreeOnEverything() {
        let s = PairScores(served: answer("The cat sat."), shadow: answer("the CAT sat"), wantsJSON: false)
        #expect(s.statusMatch)
        #expect(s.finishReasonMatch == true)
        #expect(!s.exactMatch)  // bytes differ
        #expect(s.rougeL == 1)
        #expect(s.jaccard == 1)
        #expect(s.lengthRatio == 1)
        #expect(s.servedJSONValid == nil && s.shadowJSONValid == nil)
    }

    /// ROUGE-L F1 by hand: LCS("a b c d e", "a c e f") = "a c e" (3); P = 3/4, R = 3/5, F1 = 2PR/(P+R).
    @Test func rougeLIsTheLongestCommonSubsequenceF1() {
        let s = PairScores(served: answer("a b c d e"), shadow: answer("a c e f"), wantsJSON: false)
        let p = 3.0 / 4
        let r = 3.0 / 5
        #expect(abs(s.rougeL - 2 * p * r / (p + r)) < 1e-9)
        #expect(abs(s.jaccard - 3.0 / 6) < 1e-9)  // {a c e} of {a b c d e f}
        #expect(s.lengthRatio == 4.0 / 5)
    }

    @Test func statusFinishAndDeltas() {
        let s = PairScores(
            served: answer("x", finish: "stop", latencyMs: 10, tokens: 20),
            shadow: answer("x", status: 500, finish: "length", latencyMs: 35, tokens: 5), wantsJSON: false)
        #expect(!s.statusMatch)
        #expect(s.finishReasonMatch == false)
        #expect(abs(s.latencyDeltaMs - 25) < 1e-6)
        #expect(s.completionTokensDelta == -15)
    }

    @Test func jsonValidityOnlyWhenAsked() {
        let s = PairScores(served: answer(#"{"a": [1, 2]}"#), shadow: answer(#"{"a": [1, 2"#), wantsJSON: true)
        #expect(s.servedJSONValid == true)
        #expect(s.shadowJSONValid == false)
    }

    @Test func refusalsAndEmptyAnswers() {
        #expect(PairScores.isRefusal(Array("  I'm sorry, but I can't help with that.".utf8)))
        #expect(PairScores.isRefusal(Array("I\u{2019}m unable to do that".utf8)))
        #expect(PairScores.isRefusal(Array("As an AI language model, ...".utf8)))
        #expect(!PairScores.isRefusal(Array("Sure: I'm sorry you had trouble; here is the fix.".utf8)))
        #expect(PairScores.isRefusal(Array("I cannot".utf8)))  // exactly a phrase
        #expect(PairScores.isRefusal(Array("UNFORTUNATELY, I CANNOT do that".utf8)))  // the longest phrase
        #expect(!PairScores.isRefusal(Array("I'm sor".utf8)))  // shorter than every phrase it starts
        #expect(!PairScores.isRefusal([]))
        let s = PairScores(served: answer("Here you go"), shadow: answer(""), wantsJSON: false)
        #expect(s.shadowEmpty && !s.servedEmpty)
        #expect(s.rougeL == 0)
        #expect(s.lengthRatio == 0)
    }

    /// The bit-parallel LCS against the textbook table, on random answers over a small vocabulary
    /// (many repeats) with lengths crossing the 64-bit word boundaries.
    @Test func bitParallelLCSMatchesTheTable() {
        var rng = SystemRandomNumberGenerator()
        let scratch = ScoreScratch()
        for trial in 0..<400 {
            let vocabulary = trial % 3 == 0 ? 3 : 40
            func words(_ count: Int) -> [UInt64] {
                (0..<count).map { _ in UInt64.random(in: 1...UInt64(vocabulary), using: &rng) }
            }
            let lengths = [0, 1, 2, 63, 64, 65, 127, 128, 129, 200, 255, 256]
            let n = trial < 144 ? lengths[trial % 12] : Int.random(in: 0...256, using: &rng)
            let m = trial < 144 ? lengths[trial / 12] : Int.random(in: 0...256, using: &rng)
            scratch.served = words(n)
            scratch.shadow = words(m)
            #expect(scratch.lcsLength(n: n, m: m) == Self.tableLCS(scratch.served, scratch.shadow), "n=\(n) m=\(m)")
        }
    }

    /// The token-set table against `Set`, on random lists (repeats, and sizes that make it grow).
    @Test func tokenSetsMatchSetAlgebra() {
        var rng = SystemRandomNumberGenerator()
        let scratch = ScoreScratch()
        for trial in 0..<300 {
            let vocabulary = UInt64([2, 30, 5000][trial % 3])
            scratch.served = (0..<Int.random(in: 0...2000, using: &rng)).map { _ in
                UInt64.random(in: 0..<vocabulary, using: &rng) &* 0x9E37_79B9_7F4A_7C15
            }
            scratch.shadow = (0..<Int.random(in: 0...2000, using: &rng)).map { _ in
                UInt64.random(in: 0..<vocabulary, using: &rng) &* 0x9E37_79B9_7F4A_7C15
            }
            let a = Set(scratch.served)
            let b = Set(scratch.shadow)
            let (both, union) = scratch.setSizes()
            #expect(both == a.intersection(b).count)
            #expect(union == a.union(b).count)
        }
    }

    static func tableLCS(_ a: [UInt64], _ b: [UInt64]) -> Int {
        var prev = [Int](repeating: 0, count: b.count + 1)
        var cur = prev
        for x in a {
            for (j, y) in b.enumerated() { cur[j + 1] = x == y ? prev[j] + 1 : max(prev[j + 1], cur[j]) }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }

    /// Word hashes: one per word, equal for the same word in any (ASCII) case, different for
    /// different words, whatever their length (packed up to eight bytes, folded beyond), with
    /// punctuation, spaces and newlines as separators and UTF-8 letters kept inside words.
    @Test func wordHashesTellWordsApartAndIgnoreCase() {
        var rng = SystemRandomNumberGenerator()
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789") + ["é", "ß", "中"]
        var seen: [UInt64: String] = [:]
        for _ in 0..<3000 {
            let word = String(
                (0..<Int.random(in: 1...30, using: &rng)).map { _ in letters.randomElement(using: &rng)! })
            var upper: [UInt64] = []
            var lower: [UInt64] = []
            PairScores.tokenHashes(Array("  \(word.uppercased()),".utf8), into: &upper)
            PairScores.tokenHashes(Array(word.utf8), into: &lower)
            #expect(lower.count == 1)
            if word.allSatisfy(\.isASCII) { #expect(upper == lower, "\(word)") }  // only ASCII is folded
            if let h = lower.first {
                if let other = seen[h] { #expect(other == word, "\(other) and \(word) share a hash") }
                seen[h] = word
            }
        }
        // Long words that differ only before, inside or after an eight-byte chunk.
        for (a, b) in [
            ("alphabetagamma", "omegaxbetagamma"), ("internationalization", "internationalizatiom"),
            ("aaaaaaaabbbbbbbb", "bbbbbbbbaaaaaaaa"), ("abcdefgh", "abcdefghi"), ("x1234567", "y1234567"),
        ] {
            var ha: [UInt64] = []
            var hb: [UInt64] = []
            PairScores.tokenHashes(Array(a.utf8), into: &ha)
            PairScores.tokenHashes(Array(b.utf8), into: &hb)
            #expect(ha != hb, "\(a) and \(b)")
        }
        var split: [UInt64] = []
        PairScores.tokenHashes(Array("one, two\nthree-four  five!".utf8), into: &split)
        #expect(split.count == 5)
        #expect(Set(split).count == 5)
    }

    /// The C word scanner against a byte-at-a-time reference: the same words, in order, at every
    /// offset of its 16-byte blocks and 64-byte bitmaps, with the bytes just outside the letter and
    /// digit ranges (`/` `:` `@` `[` `` ` `` `{`) as separators and one hash per distinct lowercased word.
    @Test func wordsAreTheReferenceWordsAtEveryOffset() {
        var rng = SystemRandomNumberGenerator()
        let wordBytes = Array("abcxyzABCXYZ0189".utf8) + [0x80, 0xC3, 0xE3, 0xA9, 0xFF]
        let separators: [UInt8] = Array(" ,.!\n\t/:@[`{-\"".utf8) + [0x00, 0x1F, 0x7F]
        func isWord(_ b: UInt8) -> Bool {
            b >= 0x80 || (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A)
        }
        var hashOf: [[UInt8]: UInt64] = [:]
        var wordOf: [UInt64: [UInt8]] = [:]
        var out: [UInt64] = []
        for _ in 0..<4000 {
            var text: [UInt8] = []
            let length = Int.random(in: 0...200, using: &rng)
            while text.count < length {
                let pool = Bool.random(using: &rng) ? wordBytes : separators
                for _ in 0..<Int.random(in: 1...(Bool.random(using: &rng) ? 3 : 20), using: &rng) {
                    text.append(pool.randomElement(using: &rng)!)
                }
            }
            var words: [[UInt8]] = []
            var current: [UInt8] = []
            for b in text {
                if isWord(b) {
                    current.append(b >= 0x41 && b <= 0x5A ? b | 0x20 : b)
                } else if !current.isEmpty {
                    words.append(current)
                    current = []
                }
            }
            if !current.isEmpty { words.append(current) }
            PairScores.tokenHashes(text, into: &out)
            #expect(out.count == words.count, "\(text)")
            for (word, h) in zip(words, out) {
                if let known = hashOf[word] { #expect(known == h, "\(word)") }
                if let other = wordOf[h] { #expect(other == word, "\(other) and \(word) share a hash") }
                hashOf[word] = h
                wordOf[h] = word
            }
        }
    }

    /// A long answer grows the worker's scoring buffers for its own pair only: afterwards they
    /// are back under the kept size, and the next pair is scored as before.
    @Test func longAnswersDoNotKeepTheirBuffers() {
        let scratch = ScoreScratch()
        let long = (0..<60_000).map { "w\($0)" }.joined(separator: " ")
        let big = PairScores(served: answer(long), shadow: answer(long + " extra"), wantsJSON: false, scratch: scratch)
        #expect(big.truncated && big.jaccard > 0.99)
        #expect(scratch.grownEntries <= 4 * ScoreScratch.keptEntries, "\(scratch.grownEntries)")
        let small = PairScores(served: answer("a b c"), shadow: answer("a b d"), wantsJSON: false, scratch: scratch)
        #expect(small.jaccard == 0.5 && abs(small.rougeL - 2.0 / 3.0) < 1e-9)
    }

    @Test func longAnswersAreCutForROUGEAndSaySo() {
        let long = (0..<1000).map { "w\($0)" }.joined(separator: " ")
        let s = PairScores(served: answer(long), shadow: answer(long), wantsJSON: false)
        #expect(s.truncated)
        #expect(s.rougeL == 1)
        #expect(s.exactMatch)
    }
}
