import Foundation
import Rules
import Testing

@Suite struct LoaderTests {
    @Test func errorsCarryLineColumnAndPath() {
        let text = """
            {
              "upstreams": {"stable": {"address": "127.0.0.1:9001", "modelVersion": "v1"}},
              "flags": {
                "chat": {
                  "state": "ENABLED",
                  "variants": {"stable": "stable", "x": "nowhere"},
                  "defaultVariant": "stable",
                  "targeting": {"if": [{"==": [{"var": "bdy.user"}, 1]}, "stable"]}
                }
              }
            }
            """
        let errors = loadErrors(text)
        #expect(errors.count == 2)
        let variant = errors.first { $0.path == "$.flags.chat.variants.x" }
        #expect(variant?.line == 6)
        let unknown = errors.first { $0.message.contains("unknown context name 'bdy.user'") }
        #expect(unknown?.line == 8)
    }

    @Test(arguments: [
        ("", "empty"), ("   \n", "empty"), ("{\"upstreams\": ", "invalid JSON"), ("[]", "JSON object"),
        ("{\"upstreams\": {}, \"flags\": {}}", "at least one upstream"),
        (#"{"upstreams": {"a": {"address": "x", "modelVersion": "1"}}, "flags": {}}"#, "HOST:PORT"),
        (
            #"{"upstreams": {"a": {"address": "h:1", "modelVersion": "1"}}, "flags": {}, "extra": 1}"#,
            "unknown key 'extra'"
        ),
        (
            #"{"upstreams": {"a": {"address": "h:1", "modelVersion": "1"}}, "flags": {"f": {"state": "ON", "variants": {"a": "a"}, "defaultVariant": "a"}}}"#,
            "state must be"
        ),
        (
            #"{"upstreams": {"a": {"address": "h:1", "modelVersion": "1"}}, "flags": {"f": {"state": "ENABLED", "variants": {"a": "a"}, "defaultVariant": "a", "targeting": {"$ref": "nope"}}}}"#,
            "unknown evaluator"
        ),
        (
            #"{"upstreams": {"a": {"address": "h:1", "modelVersion": "1"}}, "flags": {"f": {"state": "ENABLED", "variants": {"a": "a"}, "defaultVariant": "a", "targeting": {"bogus": [1]}}}}"#,
            "unknown operator"
        ),
        (
            #"{"upstreams": {"a": {"address": "h:1", "modelVersion": "1"}}, "$evaluators": {"x": {"$ref": "x"}}, "flags": {}}"#,
            "cycle"
        ),
        (
            #"{"upstreams": {"a": {"address": "h:1", "modelVersion": "1"}}, "flags": {"f": {"state": "ENABLED", "variants": {"a": "a"}, "defaultVariant": "a", "targeting": {"fractional": [["a", -1]]}}}}"#,
            "whole numbers"
        ),
        (
            #"{"upstreams": {"a": {"address": "h:1", "modelVersion": "1"}}, "flags": {"f\r\nSet-Cookie: x": {"state": "ENABLED", "variants": {"a": "a"}, "defaultVariant": "a"}}}"#,
            "a flag key has no control characters"
        ),
        (
            #"{"upstreams": {"a": {"address": "h:1", "modelVersion": "1"}}, "flags": {"f": {"state": "ENABLED", "variants": {"a\n": "a"}, "defaultVariant": "a\n"}}}"#,
            "a variant name has no control characters"
        ),
    ])
    func refusedFiles(_ text: String, _ expected: String) {
        let errors = loadErrors(text)
        #expect(!errors.isEmpty, "accepted: \(text)")
        #expect(errors.contains { $0.message.contains(expected) }, "\(errors)")
    }

    @Test func jsonParserKeepsOrderAndPositions() throws {
        let node = try JSONParser.parse("{\n  \"b\": 1,\n  \"a\": [true, null, \"x\\u00e9\\ud83d\\ude00\"]\n}")
        #expect(node.object?.map(\.key) == ["b", "a"])
        #expect(node["a"]?.line == 3)
        #expect(node["a"]?.array?[2].string == "xé😀")
        #expect(throws: JSONParseError.self) { try JSONParser.parse("{\"a\": 1, \"a\": 2}") }
        // Duplicates among many keys (past the linear look), in every position.
        let many = (0..<40).map { "\"k\($0)\": \($0)" }
        #expect(try JSONParser.parse("{" + many.joined(separator: ",") + "}").object?.count == 40)
        for dup in [0, 31, 32, 39] {
            let text = "{" + (many + ["\"k\(dup)\": 0"]).joined(separator: ",") + "}"
            #expect(throws: JSONParseError.self, "k\(dup)") { try JSONParser.parse(text) }
        }
        #expect(throws: JSONParseError.self) { try JSONParser.parse(String(repeating: "[", count: 500)) }
    }

    /// Strings with and without escapes, ASCII and not, written by Foundation's JSON writer (an
    /// implementation independent of ours), parse back equal, as keys and as values; raw control
    /// characters and invalid UTF-8 are refused with or without an escape in the string.
    @Test func stringsRoundTripAndBadBytesAreRefused() throws {
        var rng = SystemRandomNumberGenerator()
        let pieces = ["a", "word ", "\"", "\\", "\n", "\t", "\u{1}", "é", "😀", "/", "中文", "\u{7f}"]
        for _ in 0..<500 {
            let text = (0..<Int.random(in: 0..<12, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }
                .joined()
            let json = try JSONSerialization.data(withJSONObject: [text: [text]])
            let node = try JSONParser.parse([UInt8](json))
            #expect(node.object?.map(\.key) == [text], "\(text.debugDescription)")
            #expect(node[text]?.array?.first?.string == text, "\(text.debugDescription)")
        }
        for bad: [UInt8] in [
            [0x22, 0x61, 0x0A, 0x22],  // a raw newline
            [0x22, 0x5C, 0x6E, 0x01, 0x22],  // a raw control byte after an escape
            [0x22, 0xC3, 0x28, 0x22],  // invalid UTF-8
            [0x22, 0x5C, 0x6E, 0xFF, 0x22],  // invalid UTF-8 after an escape
            [0x22, 0x61, 0x62],  // unterminated
        ] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSONParser.parse(bad) }
        }
    }

    @Test func revisionIsAContentHash() throws {
        let a = try rules(file(flags: "{}"))
        let b = try rules(file(flags: "{}"))
        let c = try rules(file(flags: "{ }"))
        #expect(a.revision == b.revision)
        #expect(a.revision != c.revision)
    }
}
