import Testing

@testable import Proxy

struct RedactorTests {
    func redact(_ doc: String, _ paths: [String]) -> String? {
        let r = Redactor(paths: paths.map { $0.split(separator: ".").map(String.init) })
        return Array(doc.utf8).withUnsafeBytes { r.redact($0) }.map { String(decoding: $0, as: UTF8.self) }
    }

    func hash(_ raw: String) -> String {
        "sha256:"
            + Array(raw.utf8).withUnsafeBytes { SHA256.hash($0) }.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }
            .joined()
    }

    @Test func replacesListedFieldsAndKeepsEveryOtherByte() {
        let doc = #"{"model": "m", "user":"alice" ,"n":12,"meta":{"user":"kept"}}"#
        let out = redact(doc, ["user"])
        #expect(out == #"{"model": "m", "user":"\#(hash(#""alice""#))" ,"n":12,"meta":{"user":"kept"}}"#)
    }

    @Test func walksThroughArrays() {
        let doc = #"{"messages":[{"role":"user","content":"secret one"},{"role":"assistant","content":"two"}]}"#
        let out = redact(doc, ["messages.content"])
        let expected =
            #"{"messages":[{"role":"user","content":"\#(hash(#""secret one""#))"},{"role":"assistant","content":"\#(hash(#""two""#))"}]}"#
        #expect(out == expected)
    }

    @Test func redactsWholeObjectsAndNonStringValues() {
        let doc = #"{"a":{"b":[1,2]},"c":null,"d":-1.5e3}"#
        let out = redact(doc, ["a", "c", "d"])
        #expect(out == #"{"a":"\#(hash(#"{"b":[1,2]}"#))","c":"\#(hash("null"))","d":"\#(hash("-1.5e3"))"}"#)
    }

    @Test func escapedQuotesInsideStringsDoNotEndThem() {
        let doc = #"{"user":"a\"b","x":"y"}"#
        #expect(redact(doc, ["user"]) == #"{"user":"\#(hash(#""a\"b""#))","x":"y"}"#)
    }

    @Test func refusesWhatIsNotJSON() {
        #expect(redact("not json", ["user"]) == nil)
        #expect(redact(#"{"user":"a""#, ["user"]) == nil)
        #expect(redact(#"{"user":"a"} trailing"#, ["user"]) == nil)
        #expect(redact(#"{"user" "a"}"#, ["user"]) == nil)
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(redact(deep, ["user"]) == nil)
    }
}
