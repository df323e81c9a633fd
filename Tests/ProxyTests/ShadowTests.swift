import Testing

@testable import Proxy

struct ShadowExchangeTests {
    /// The byte search that tells whether a request asked for JSON (`"response_format"`).
    @Test(arguments: [
        (#"{"response_format":{}}"#, true),
        (#""response_format""#, true),  // the whole buffer
        (#"{"a":"x","response_format"#, false),  // cut before the closing quote
        (#"{"response-format":1}"#, false),
        (#"""#, false),
        ("", false),
        (#"{"a":"\"response_format\""}"#, false),  // escaped: the quotes are not adjacent to the name
    ])
    func findsTheKeyAnywhere(_ body: String, _ found: Bool) {
        let bytes = Array(body.utf8)
        #expect(bytes.withUnsafeBytes { ShadowExchange.contains($0, "\"response_format\"") } == found)
    }
}
