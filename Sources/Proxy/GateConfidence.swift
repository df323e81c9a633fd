import Glibc
import HTTP1
import Rules

/// How a confidence-gated attempt ended, as records and statistics say it.
enum GateResult: String {
    case passed
    case belowThreshold = "below_threshold"
    /// The answer carried no readable confidence: not served (no evidence never passes).
    case noConfidence = "no_confidence"
    case candidateError = "candidate_error"
    case candidateTimeout = "candidate_timeout"
    /// The answer was larger than `maxBufferBytes`.
    case tooLarge = "too_large"
}

/// The gate's facts for the served record.
struct GateInfo {
    var candidateVariant: Int
    var threshold: Double
    var confidence: Double?
    var result: GateResult
}

/// Reads a model's confidence from a buffered answer (cold-ish path: only gated attempts).
enum GateConfidence {
    static func extract(_ source: ConfidenceGate.Source, head: ResponseHead, body: [UInt8]) -> Double? {
        switch source {
        case .header(let name):
            guard let v = head.value(of: name) else { return nil }
            return Double(v.trimmingSpaces)
        case .json(let path):
            let scanner = BodyScanner(paths: [path], facts: false)
            if isSSE(head) {
                // The last event that carries the field.
                var end = body.count
                while end > 0 {
                    let lineStart = (body[..<end].lastIndex(of: 0x0A) ?? -1) + 1
                    let line = body[lineStart..<end]
                    end = lineStart > 0 ? lineStart - 1 : 0
                    guard line.starts(with: "data: {".utf8) || line.starts(with: "data:{".utf8) else { continue }
                    let json = Array(line.drop { $0 != UInt8(ascii: "{") })
                    if let v = number(scanner.scan(json, limit: json.count).values.first) { return v }
                    if lineStart == 0 { break }
                }
                return nil
            }
            return number(scanner.scan(body, limit: body.count).values.first)
        case .logprobs:
            return body.withUnsafeBytes { meanLogprobConfidence($0) }
        }
    }

    static func isSSE(_ head: ResponseHead) -> Bool {
        head.value(of: "content-type")?.lowercased().hasPrefix("text/event-stream") ?? false
    }

    private static func number(_ v: Value?) -> Double? {
        switch v {
        case .number(let n): return n
        case .string(let s): return Double(String(decoding: s, as: UTF8.self))
        default: return nil
        }
    }

    /// exp(mean of every `"logprob": x`) — the geometric mean of the token probabilities.
    static func meanLogprobConfidence(_ p: UnsafeRawBufferPointer) -> Double? {
        let key: StaticString = "\"logprob\""
        var sum = 0.0
        var n = 0
        var i = 0
        while let q = ByteSearch.find(key, in: p, from: i) {
            i = q + 1
            var j = q + key.utf8CodeUnitCount
            while j < p.count, p[j] == 0x20 || p[j] == UInt8(ascii: ":") { j += 1 }
            var e = j
            while e < p.count,
                (p[e] >= 0x30 && p[e] <= 0x39) || p[e] == 0x2D || p[e] == 0x2E || p[e] | 0x20 == 0x65
                    || p[e] == 0x2B
            {
                e += 1
            }
            if e > j, let v = Double(String(decoding: UnsafeRawBufferPointer(rebasing: p[j..<e]), as: UTF8.self)) {
                sum += v
                n += 1
            }
        }
        return n > 0 ? exp(sum / Double(n)) : nil
    }
}

/// Finds the first SSE event that carries data (`first-event` gating): events end at a blank
/// line (`\n\n` or `\r\n\r\n`); comment-only events (`: keep-alive`) are passed over.
/// Incremental: bytes already searched are not searched again.
struct SSEEventFinder {
    private var lineStart = 0
    private var eventStart = 0
    private var hasData = false

    /// The byte range of the first data event (its blank line included), once it is complete.
    /// `body` is the same buffer each time, grown by appending.
    mutating func firstDataEvent(in body: [UInt8]) -> Range<Int>? {
        guard lineStart <= body.count else { return nil }
        while let nl = body[lineStart...].firstIndex(of: 0x0A) {
            var end = nl
            if end > lineStart && body[end - 1] == 0x0D { end -= 1 }
            let line = body[lineStart..<end]
            lineStart = nl + 1
            if line.isEmpty {
                if hasData { return eventStart..<lineStart }
                eventStart = lineStart
            } else if line.starts(with: "data:".utf8) {
                hasData = true
            }
        }
        return nil
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
