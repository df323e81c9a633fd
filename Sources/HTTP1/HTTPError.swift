/// Why a message was refused. Each case maps to one status, one stable machine-readable code
/// (the `code` of the JSON error body and of the log line) and a message a person can act on.
public struct HTTPError: Error, Equatable, Sendable, CustomStringConvertible {
    public let status: Int
    public let code: StaticString
    public let message: StaticString

    public init(status: Int, code: StaticString, message: StaticString) {
        self.status = status
        self.code = code
        self.message = message
    }

    public static func == (a: HTTPError, b: HTTPError) -> Bool {
        a.status == b.status && a.code.description == b.code.description
    }

    public var description: String { "\(status) \(code): \(message)" }

    // Request parsing (RFC 9112), answered with the status and a close.
    public static let badRequestLine = HTTPError(
        status: 400, code: "bad_request_line", message: "malformed request line")
    public static let badMethod = HTTPError(status: 400, code: "bad_method", message: "invalid method token")
    public static let badTarget = HTTPError(status: 400, code: "bad_target", message: "invalid request target")
    public static let badVersion = HTTPError(status: 400, code: "bad_version", message: "malformed HTTP version")
    public static let versionNotSupported = HTTPError(
        status: 505, code: "http_version_not_supported", message: "only HTTP/1.0 and HTTP/1.1 are supported")
    public static let bareLF = HTTPError(status: 400, code: "bare_lf", message: "line ending without CR (bare LF)")
    public static let bareCR = HTTPError(status: 400, code: "bare_cr", message: "CR not followed by LF")
    public static let badHeaderName = HTTPError(
        status: 400, code: "bad_header_name", message: "invalid header field name (or space before colon)")
    public static let badHeaderValue = HTTPError(
        status: 400, code: "bad_header_value", message: "invalid character in header field value")
    public static let obsFold = HTTPError(
        status: 400, code: "obs_fold", message: "obsolete line folding is not allowed")
    public static let badContentLength = HTTPError(
        status: 400, code: "bad_content_length", message: "invalid or conflicting Content-Length")
    public static let badTransferEncoding = HTTPError(
        status: 400, code: "bad_transfer_encoding", message: "Transfer-Encoding must be exactly 'chunked'")
    public static let lengthAndChunked = HTTPError(
        status: 400, code: "ambiguous_framing", message: "both Transfer-Encoding and Content-Length are present")
    public static let transferEncodingInHTTP10 = HTTPError(
        status: 400, code: "bad_transfer_encoding", message: "Transfer-Encoding is not allowed in HTTP/1.0")
    public static let badHost = HTTPError(
        status: 400, code: "bad_host", message: "Host header missing, repeated or invalid")
    public static let badChunk = HTTPError(status: 400, code: "bad_chunk", message: "malformed chunked body")
    public static let chunkTooLarge = HTTPError(
        status: 400, code: "bad_chunk_size", message: "chunk size invalid or too large")
    public static let methodNotAllowed = HTTPError(
        status: 405, code: "method_not_allowed", message: "CONNECT is not supported")
    public static let expectationFailed = HTTPError(
        status: 417, code: "expectation_failed", message: "only 'Expect: 100-continue' is supported")

    // Limits.
    public static let uriTooLong = HTTPError(
        status: 414, code: "uri_too_long", message: "request line longer than the limit")
    public static let headersTooLarge = HTTPError(
        status: 431, code: "headers_too_large", message: "header section larger than the limit")
    public static let tooManyHeaders = HTTPError(
        status: 431, code: "too_many_headers", message: "more header fields than the limit")
    public static let bodyTooLarge = HTTPError(
        status: 413, code: "body_too_large", message: "request body larger than --max-body")
    public static let headerTimeout = HTTPError(
        status: 408, code: "header_timeout", message: "request header not received within --header-timeout")
    public static let bodyTimeout = HTTPError(
        status: 408, code: "body_timeout", message: "request body stalled longer than --body-timeout")
}
