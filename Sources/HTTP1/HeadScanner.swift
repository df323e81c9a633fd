/// Finds the end of a message head (`CRLF CRLF`) as bytes arrive, without copying them.
///
/// It rejects bare LF and bare CR as soon as they are seen (RFC 9112 §2.2: we never re-interpret
/// them), enforces the request-line and head size limits while the head is still incomplete (so a
/// client cannot make us buffer without bound), and skips empty lines before the start line.
/// The caller keeps all bytes of the message in one buffer and passes it again, grown, each time.
public struct HeadScanner: Sendable {
    /// Index of the next byte to examine.
    public private(set) var scanned = 0
    /// Index where the start line begins (after skipped empty lines).
    public private(set) var headStart = 0
    private var lineStart = 0
    private var sawStartLine = false

    public enum Result: Equatable {
        case needMore
        /// The head is `buffer[start..<end]`, `end` just past the final CRLF.
        case complete(start: Int, end: Int)
        case failed(HTTPError)
    }

    public init() {}

    /// Starts over for the next message (buffer indices restart at 0).
    public mutating func reset() { self = HeadScanner() }

    /// - Parameters:
    ///   - maxStartLine: longest start line; `startLineError` when exceeded.
    ///   - maxHead: largest head; `headError` when exceeded.
    public mutating func scan(
        _ buf: UnsafeRawBufferPointer, maxStartLine: Int, maxHead: Int,
        startLineError: HTTPError = .uriTooLong, headError: HTTPError = .headersTooLarge
    ) -> Result {
        var i = scanned
        let n = buf.count
        while i < n {
            let b = buf[i]
            if i > 0 && buf[i - 1] == ASCII.cr && b != ASCII.lf { return .failed(.bareCR) }
            if b == ASCII.lf {
                if i == 0 || buf[i - 1] != ASCII.cr { return .failed(.bareLF) }
                let lineLength = i - 1 - lineStart
                if !sawStartLine {
                    if lineLength == 0 {
                        // RFC 9112 §2.2: ignore at least one empty line before the request line.
                        if i + 1 > 8 { return .failed(.badRequestLine) }
                        headStart = i + 1
                    } else {
                        if lineLength > maxStartLine { return .failed(startLineError) }
                        sawStartLine = true
                    }
                } else if lineLength == 0 {
                    scanned = i + 1
                    if i + 1 - headStart > maxHead { return .failed(headError) }
                    return .complete(start: headStart, end: i + 1)
                }
                lineStart = i + 1
            }
            i += 1
        }
        scanned = i
        if !sawStartLine && n - lineStart > maxStartLine { return .failed(startLineError) }
        if n - headStart > maxHead { return .failed(headError) }
        return .needMore
    }
}
