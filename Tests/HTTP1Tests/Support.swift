import HTTP1

/// Scans and parses a request head exactly as a server connection does, byte by byte growing
/// the buffer when `incremental` is set.
func parseRequest(_ bytes: [UInt8], limits: Limits = Limits(), incremental: Bool = false) -> Result<
    RequestHead, HTTPError
>? {
    var scanner = HeadScanner()
    var end = incremental ? 1 : bytes.count
    while true {
        let slice = Array(bytes[0..<end])
        let r = slice.withUnsafeBytes { scanner.scan($0, maxStartLine: limits.maxRequestLine, maxHead: limits.maxHead) }
        switch r {
        case .failed(let e):
            return .failure(e)
        case .complete(let start, let stop):
            return slice.withUnsafeBytes { p in
                Result { () throws(HTTPError) in
                    try RequestHead.parse(UnsafeRawBufferPointer(rebasing: p[start..<stop]), limits: limits)
                }
            }
        case .needMore:
            if end == bytes.count { return nil }
            end += 1
        }
    }
}

func parseRequest(_ text: String, limits: Limits = Limits()) -> Result<RequestHead, HTTPError>? {
    parseRequest(Array(text.utf8), limits: limits)
}

func error(of result: Result<RequestHead, HTTPError>?) -> HTTPError? {
    if case .failure(let e) = result { return e }
    return nil
}

func head(of result: Result<RequestHead, HTTPError>?) -> RequestHead? {
    if case .success(let h) = result { return h }
    return nil
}

/// Decodes a chunked body fed in pieces split at `splits`.
func decodeChunked(_ bytes: [UInt8], splitAt splits: [Int] = [], maxBody: Int = 1 << 20) -> (
    body: [UInt8], result: ChunkedDecoder.Result
) {
    var decoder = ChunkedDecoder(maxBody: maxBody)
    var body: [UInt8] = []
    var start = 0
    var result = ChunkedDecoder.Result.needMore
    for stop in splits + [bytes.count] where stop >= start {
        let piece = Array(bytes[start..<stop])
        result = piece.withUnsafeBytes { decoder.decode($0) { body.append(contentsOf: $0) } }
        switch result {
        case .needMore:
            start = stop
        case .done(let consumed):
            return (body, .done(consumed: start + consumed))
        case .failed:
            return (body, result)
        }
    }
    return (body, result)
}
