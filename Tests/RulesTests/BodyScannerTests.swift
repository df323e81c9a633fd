import Rules
import Testing

@Suite struct BodyScannerTests {
    let chat = Array(
        """
        {"model": "chat", "user": "u-42", "metadata": {"tier": "enterprise", "n": 3, "tags": ["a", "b"]},
         "stream": true, "response_format": {"type": "json_object"},
         "messages": [
           {"role": "system", "content": "You are terse."},
           {"role": "user", "content": "Hello \\"there\\""},
           {"role": "assistant", "content": "Hi"},
           {"role": "user", "content": [{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": "x"}}]}
         ],
         "tools": [{"type": "function", "function": {"name": "f"}}]}
        """.utf8)

    @Test func extractsPathsAndFacts() {
        let scanner = BodyScanner(
            paths: [
                ["user"], ["metadata", "tier"], ["metadata", "n"], ["metadata", "tags"], ["messages", "1", "content"],
                ["absent"], ["messages", "2", "role"],
            ], facts: true)
        let f = scanner.scan(chat, limit: 1 << 20)
        #expect(f.parsed)
        #expect(f.values[0] == .string("u-42"))
        #expect(f.values[1] == .string("enterprise"))
        #expect(f.values[2] == .number(3))
        #expect(f.values[3] == .array([.string("a"), .string("b")]))
        #expect(f.values[4] == .string("Hello \"there\""))
        #expect(f.values[5] == .null)
        // A message's role is counted for the facts and read for a rule on the same pass.
        #expect(f.values[6] == .string("assistant"))
        #expect(f.messageCount == 4)
        #expect(f.userTurns == 2)
        #expect(f.hasTools)
        #expect(f.hasImages)
        #expect(f.hasResponseFormat)
        #expect(f.stream)
        #expect(f.model == .string("chat"))
        #expect(f.modelRange.map { String(decoding: chat[$0], as: UTF8.self) } == "chat")
        // The raw bytes between the quotes of string contents and text parts: 14 + 15 + 2 + 12.
        #expect(f.contentBytes == 43)
        #expect(f.promptTokens == 11)
        // The same facts when no rule reads inside the messages (their members are skipped on a
        // shorter path then).
        let factsOnly = BodyScanner(paths: [["user"]], facts: true).scan(chat, limit: 1 << 20)
        #expect(factsOnly.parsed && factsOnly.values == [.string("u-42")])
        #expect(factsOnly.messageCount == 4 && factsOnly.userTurns == 2 && factsOnly.contentBytes == 43)
        #expect(factsOnly.hasTools && factsOnly.hasImages && factsOnly.hasResponseFormat && factsOnly.stream)
    }

    @Test func malformedOrOversizedBodiesGiveNothing() {
        let scanner = BodyScanner(paths: [["user"]], facts: true)
        for bad in ["{\"user\": \"a\"", "not json", "{\"user\": tru}", "[1, 2]", "{\"user\": \"a\"} trailing"] {
            let f = scanner.scan(Array(bad.utf8), limit: 1 << 20)
            #expect(!f.parsed, "\(bad)")
            #expect(f.values[0] == .null)
        }
        let f = scanner.scan(chat, limit: 100)
        #expect(f.tooLarge && !f.parsed)
    }

    @Test func reusedFactsCarryNothingOver() {
        // A router scans every request into the same `BodyFacts`: no value or fact of one body may
        // show up in the next one's.
        let scanner = BodyScanner(paths: [["user"], ["metadata", "tier"]], facts: true)
        var facts = BodyFacts()
        scanner.scan(chat, limit: 1 << 20, into: &facts)
        #expect(facts.parsed && facts.values == [.string("u-42"), .string("enterprise")] && facts.messageCount == 4)
        scanner.scan(Array(#"{"user": "other"}"#.utf8), limit: 1 << 20, into: &facts)
        #expect(facts.parsed && facts.values == [.string("other"), .null])
        #expect(facts.messageCount == 0 && facts.userTurns == 0 && !facts.stream && !facts.hasTools)
        #expect(facts.model == .null && facts.modelRange == nil)
        scanner.scan(chat, limit: 1 << 20, into: &facts)
        scanner.scan(
            Array(#"{"user": "a", "messages": [{"role": "user"}], "x": tru}"#.utf8), limit: 1 << 20, into: &facts)
        #expect(!facts.parsed && facts.values == [.null, .null] && facts.messageCount == 0 && facts.userTurns == 0)
        scanner.scan(chat, limit: 100, into: &facts)
        #expect(facts.tooLarge && !facts.parsed && facts.values == [.null, .null] && facts.messageCount == 0)
        scanner.scan(Array("{}".utf8), limit: 1 << 20, into: &facts)
        #expect(facts.parsed && !facts.tooLarge && facts.values == [.null, .null])
    }

    @Test func findsTheEndOfStringsOfEveryLengthWithEscapesAnywhere() {
        // Strings are skipped 32 bytes at a time, then sixteen, their last bytes one by one: an
        // escaped quote or backslash at any offset, in either half of a block or in the tail, must
        // not end the string.
        let scanner = BodyScanner(paths: [["skipped", "x"], ["after"]], facts: false)
        for length in 0..<80 {
            for escapeAt in -1..<length {
                var text = Array(repeating: UInt8(ascii: "a"), count: length)
                if escapeAt >= 0 { text.replaceSubrange(escapeAt..<(escapeAt + 1), with: Array(#"\"\\"#.utf8)) }
                let body = Array(#"{"skipped": ""#.utf8) + text + Array(#"", "after": "end"}"#.utf8)
                let f = scanner.scan(body, limit: 1 << 20)
                #expect(
                    f.parsed && f.values[1] == .string(Array("end".utf8)[...]),
                    "length \(length), escape at \(escapeAt)")
            }
        }
    }

    @Test func skipsWhatNoRuleReads() {
        // Brackets inside strings of skipped values do not confuse the scanner.
        let body = Array(#"{"other": {"x": "}]{[", "y": [1, {"z": "]"}]}, "user": "me"}"#.utf8)
        let f = BodyScanner(paths: [["user"]], facts: false).scan(body, limit: 1 << 20)
        #expect(f.parsed)
        #expect(f.values[0] == .string("me"))
    }
}
