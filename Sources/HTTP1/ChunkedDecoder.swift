/// Incremental decoder for `Transfer-Encoding: chunked` (RFC 9112 §7.1).
///
/// A struct state machine: feed it whatever bytes arrived, it hands back the data runs (pointing
/// into the input, no copy) and says whether the body ended and where. Strict: a chunk size must be
/// hex digits only (no sign, space, `0x` or `_`), at most 15 significant digits (no overflow),
/// followed by optional `BWS ; extension` and CRLF; chunk data must be followed by exactly CRLF.
/// Extensions and trailers are bounded, read and dropped; trailers never affect framing.
public struct ChunkedDecoder: Sendable {
    enum State: Sendable {
        case size
        case sizeWhitespace
        case extensionBytes
        case sizeLF
        case data
        case dataCR
        case dataLF
        case trailerLineStart
        case trailerLine
        case trailerLF
        case endLF
        case done
    }

    var state: State = .size
    var chunkSize = 0
    var digits = 0
    var remaining = 0
    var extensionBytes = 0
    var trailerBytes = 0
    /// Body bytes decoded so far.
    public private(set) var total = 0
    public var maxBody: Int
    public var maxExtension: Int
    public var maxTrailers: Int

    public enum Result: Equatable {
        /// Every input byte was consumed; the body continues.
        case needMore
        /// The body ended; `consumed` input bytes belonged to it (the rest is the next message).
        case done(consumed: Int)
        case failed(HTTPError)
    }

    public init(limits: Limits) {
        maxBody = limits.maxBody
        maxExtension = limits.maxChunkExtension
        maxTrailers = limits.maxTrailers
    }

    public init(maxBody: Int) {
        var l = Limits()
        l.maxBody = maxBody
        self.init(limits: l)
    }

    public var isDone: Bool { if case .done = state { return true } else { return false } }

    public mutating func decode(
        _ input: UnsafeRawBufferPointer, _ emit: (UnsafeRawBufferPointer) -> Void
    ) -> Result {
        var i = 0
        let n = input.count
        while i < n {
            let b = input[i]
            switch state {
            case .size:
                if let d = ASCII.hexValue(b) {
                    if chunkSize > 0 || d != 0 { digits += 1 }
                    if digits > 15 { return .failed(.chunkTooLarge) }
                    chunkSize = chunkSize * 16 + d
                    extensionBytes += 1  // counts size digits too, bounding leading-zero floods
                    if extensionBytes > maxExtension { return .failed(.chunkTooLarge) }
                    i += 1
                    continue
                }
                guard extensionBytes > 0 else { return .failed(.chunkTooLarge) }  // no digit at all
                if b == ASCII.cr {
                    state = .sizeLF
                } else if b == ASCII.semicolon {
                    state = .extensionBytes
                } else if b == ASCII.sp || b == ASCII.tab {
                    state = .sizeWhitespace
                } else {
                    return .failed(.chunkTooLarge)
                }
                i += 1
            case .sizeWhitespace:
                if b == ASCII.semicolon {
                    state = .extensionBytes
                } else if b != ASCII.sp && b != ASCII.tab {
                    return .failed(.badChunk)
                }
                i += 1
            case .extensionBytes:
                if b == ASCII.cr {
                    state = .sizeLF
                } else {
                    guard ASCII.isFieldValueByte(b) else { return .failed(.badChunk) }
                    extensionBytes += 1
                    if extensionBytes > maxExtension { return .failed(.badChunk) }
                }
                i += 1
            case .sizeLF:
                guard b == ASCII.lf else { return .failed(.badChunk) }
                i += 1
                if chunkSize == 0 {
                    state = .trailerLineStart
                } else {
                    if chunkSize > maxBody - total { return .failed(.bodyTooLarge) }
                    remaining = chunkSize
                    state = .data
                }
            case .data:
                let take = min(remaining, n - i)
                emit(UnsafeRawBufferPointer(rebasing: input[i..<(i + take)]))
                remaining -= take
                total += take
                i += take
                if remaining == 0 { state = .dataCR }
            case .dataCR:
                guard b == ASCII.cr else { return .failed(.badChunk) }
                state = .dataLF
                i += 1
            case .dataLF:
                guard b == ASCII.lf else { return .failed(.badChunk) }
                state = .size
                chunkSize = 0
                digits = 0
                extensionBytes = 0
                i += 1
            case .trailerLineStart:
                if b == ASCII.cr {
                    state = .endLF
                } else {
                    guard ASCII.isFieldValueByte(b) else { return .failed(.badChunk) }
                    state = .trailerLine
                    trailerBytes += 1
                }
                i += 1
            case .trailerLine:
                if b == ASCII.cr {
                    state = .trailerLF
                } else {
                    guard ASCII.isFieldValueByte(b) else { return .failed(.badChunk) }
                    trailerBytes += 1
                    if trailerBytes > maxTrailers { return .failed(.headersTooLarge) }
                }
                i += 1
            case .trailerLF:
                guard b == ASCII.lf else { return .failed(.badChunk) }
                state = .trailerLineStart
                i += 1
            case .endLF:
                guard b == ASCII.lf else { return .failed(.badChunk) }
                state = .done
                return .done(consumed: i + 1)
            case .done:
                return .done(consumed: i)
            }
        }
        return .needMore
    }
}
