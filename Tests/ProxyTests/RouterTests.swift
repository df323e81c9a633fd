import HTTP1
import Testing

@testable import Proxy

/// The path flags match on: the request target up to its query.
struct RouterTests {
    static func head(_ target: String) throws -> RequestHead {
        let bytes = Array("POST \(target) HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n".utf8)
        let parsed = bytes.withUnsafeBytes { p in
            Result { () throws(HTTPError) in try RequestHead.parse(p, limits: Limits()) }
        }
        return try parsed.get()
    }

    @Test(arguments: [
        ("/v1/chat/completions", "/v1/chat/completions"),
        ("/v1/chat/completions?api-version=2", "/v1/chat/completions"),
        ("/?", "/"), ("/a?b?c", "/a"), ("/v1/models", "/v1/models"),
    ])
    func pathStopsAtTheQuery(_ target: String, _ path: String) throws {
        #expect(Array(Router.pathOf(try Self.head(target))) == Array(path.utf8))
    }
}
