// libFuzzer driver for the HTTP/1 codec: any bytes must give a clean result or a clean error,
// never a crash, a hang, or an out-of-bounds read (AddressSanitizer is on). Build and run with
// fuzz/run-http1.sh; it compiles this file together with Sources/HTTP1 (no SwiftPM target, so the
// normal build never needs the fuzzer runtime).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    var limits = Limits()
    limits.maxBody = 1 << 16
    // Request heads, fed whole and then byte by byte: both must agree.
    var whole = HeadScanner()
    let r1 = whole.scan(bytes, maxStartLine: 8192, maxHead: 65536)
    if case .complete(let start, let end) = r1 {
        precondition(start <= end && end <= size)
        _ = try? RequestHead.parse(UnsafeRawBufferPointer(rebasing: bytes[start..<end]), limits: limits)
        _ = try? ResponseHead.parse(UnsafeRawBufferPointer(rebasing: bytes[start..<end]), limits: limits)
    }
    var grown = HeadScanner()
    var r2 = HeadScanner.Result.needMore
    for n in 1...max(1, size) where n <= size {
        r2 = grown.scan(UnsafeRawBufferPointer(rebasing: bytes[0..<n]), maxStartLine: 8192, maxHead: 65536)
        if case .needMore = r2 { continue }
        break
    }
    if size > 0 { precondition(r1 == r2, "incremental scan disagrees") }
    // Chunked bodies: consumption never exceeds the input, decoded bytes never exceed the limit.
    var decoder = ChunkedDecoder(limits: limits)
    var decoded = 0
    switch decoder.decode(bytes, { decoded += $0.count }) {
    case .done(let consumed): precondition(consumed <= size)
    default: break
    }
    precondition(decoded <= limits.maxBody)
    return 0
}
