import Glibc
import HTTP1
import HTTPServer

/// The model's answer as text, read from a response body as it streams past: for SSE, the
/// `content` of every `data:` event concatenated (with the event count); for a JSON body, the first
/// choice's `content`. Plus `finish_reason`. A byte scan over OpenAI-shaped bodies, no JSON tree.
///
/// Loop-confined, one per recorded exchange. Memory is bounded: the text by `cap`, a pending SSE
/// line or a JSON body by `maxPending` (beyond it the answer is marked truncated).
struct AnswerText {
    private(set) var text: [UInt8] = []
    /// Some of the answer is missing from `text` (over `cap`, or an SSE line over `maxPending`).
    private(set) var truncated = false
    /// `data:` events other than `[DONE]` (SSE only).
    private(set) var events = 0
    private(set) var finishReason: [UInt8]?
    private(set) var isSSE = false
    private var pending: [UInt8] = []
    private var overflowed = false
    /// The text reached `cap` (later content is not kept).
    private var textFull = false
    let cap: Int
    static let maxPending = 256 * 1024

    /// Buffer bytes this answer holds.
    var retainedBytes: Int { text.capacity + pending.capacity + (finishReason?.capacity ?? 0) }

    init(cap: Int) { self.cap = cap }

    /// Starts a response: SSE when its Content-Type is `text/event-stream`.
    mutating func start(_ head: ResponseHead) {
        text.removeAll(keepingCapacity: true)
        pending.removeAll(keepingCapacity: true)
        truncated = false
        textFull = false
        overflowed = false
        events = 0
        finishReason = nil
        isSSE = false
        head.bytes.withUnsafeBytes { p in
            let sse: StaticString = "text/event-stream"
            let n = sse.utf8CodeUnitCount
            for f in head.fields where f.known == .contentType {
                let v = UnsafeRawBufferPointer(rebasing: p[f.value])
                if v.count >= n && (0..<n).allSatisfy({ v[$0] | 0x20 == sse.utf8Start[$0] }) { isSSE = true }
            }
        }
    }

    mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        guard isSSE else {
            if pending.count + bytes.count > AnswerText.maxPending {
                overflowed = true
                return
            }
            pending.append(contentsOf: bytes)
            return
        }
        var start = 0
        while let nl = bytes[start...].firstIndex(of: 0x0A) {
            if pending.isEmpty {
                line(UnsafeRawBufferPointer(rebasing: bytes[start..<nl]))
            } else if !overflowed {
                pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<nl]))
                pending.withUnsafeBytes { line($0) }
                pending.removeAll(keepingCapacity: true)
            } else {
                pending.removeAll(keepingCapacity: true)
            }
            overflowed = false
            start = nl + 1
        }
        if start < bytes.count {
            if pending.count + bytes.count - start > AnswerText.maxPending {
                overflowed = true
                truncated = true
                pending.removeAll(keepingCapacity: true)
            } else {
                pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start...]))
            }
        }
    }

    /// The body ended: read a JSON answer, or an SSE line left without its newline.
    mutating func finish() {
        if isSSE {
            if !pending.isEmpty && !overflowed { pending.withUnsafeBytes { line($0) } }
        } else if overflowed {
            truncated = true
        } else {
            pending.withUnsafeBytes { p in
                // `finish_reason` follows the content in OpenAI's answers: look there first, then
                // from the start (JSON keys come in any order).
                var after = 0
                if let s = AnswerText.stringValue(of: "\"content\"", in: p) {
                    append(s)
                    if let b = p.baseAddress, let e = s.baseAddress { after = b.distance(to: e) + s.count }
                }
                let reason =
                    AnswerText.stringValue(of: "\"finish_reason\"", in: p, from: after)
                    ?? (after > 0 ? AnswerText.stringValue(of: "\"finish_reason\"", in: p) : nil)
                finishReason = reason.map { AnswerText.unescape($0) }
            }
        }
        pending.removeAll(keepingCapacity: true)
    }

    private mutating func line(_ raw: UnsafeRawBufferPointer) {
        var l = raw
        if let last = l.last, last == 0x0D { l = UnsafeRawBufferPointer(rebasing: l[0..<(l.count - 1)]) }
        guard l.count >= 5, l.starts(with: "data:".utf8) else { return }
        var payload = UnsafeRawBufferPointer(rebasing: l[5...])
        if payload.first == 0x20 { payload = UnsafeRawBufferPointer(rebasing: payload[1...]) }
        if payload.elementsEqual("[DONE]".utf8) { return }
        events += 1
        if let s = AnswerText.stringValue(of: "\"content\"", in: payload) { append(s) }
        if let r = AnswerText.stringValue(of: "\"finish_reason\"", in: payload) {
            finishReason = AnswerText.unescape(r)
        }
    }

    private mutating func append(_ escaped: UnsafeRawBufferPointer) {
        guard !textFull else { return }
        let before = text.count
        AnswerText.unescape(escaped, into: &text)
        if text.count > cap {
            text.removeLast(text.count - max(cap, before))
            textFull = true
            truncated = true
        }
    }

    /// The raw (still escaped) content of the first string value of `key` in `p` at or after
    /// offset `from`; nil when the key is absent or its value is not a string (e.g. `null`).
    static func stringValue(of key: StaticString, in p: UnsafeRawBufferPointer, from: Int = 0)
        -> UnsafeRawBufferPointer?
    {
        let n = key.utf8CodeUnitCount
        var i = from
        while let q = ByteSearch.find(key, in: p, from: i), q + n < p.count {
            var j = q + n
            while j < p.count, p[j] == 0x20 || p[j] == 0x09 { j += 1 }
            guard j < p.count, p[j] == UInt8(ascii: ":") else {
                i = q + 1
                continue
            }
            j += 1
            while j < p.count, p[j] == 0x20 || p[j] == 0x09 || p[j] == 0x0A || p[j] == 0x0D { j += 1 }
            guard j < p.count, p[j] == UInt8(ascii: "\"") else { return nil }
            let start = j + 1
            var e = start
            // Eight bytes at a time to the next byte that is not plain ASCII; only a quote ends it.
            while true {
                e = JSONText.plainRunEnd(p, from: e, to: p.count)
                guard e < p.count, p[e] != UInt8(ascii: "\"") else { break }
                e += p[e] == UInt8(ascii: "\\") ? 2 : 1
            }
            guard e < p.count else { return nil }
            return UnsafeRawBufferPointer(rebasing: p[start..<e])
        }
        return nil
    }

    /// JSON string content → UTF-8 bytes (`\uXXXX` with surrogate pairs; a lone surrogate is U+FFFD).
    static func unescape(_ p: UnsafeRawBufferPointer) -> [UInt8] {
        var out: [UInt8] = []
        unescape(p, into: &out)
        return out
    }

    static func unescape(_ p: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        out.reserveCapacity(out.count + p.count)
        var i = 0
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= p.count else { return nil }
            var v: UInt32 = 0
            for j in at..<(at + 4) {
                let h = p[j]
                let d: UInt8
                switch h {
                case 0x30...0x39: d = h - 0x30
                case 0x41...0x46: d = h - 0x37
                case 0x61...0x66: d = h - 0x57
                default: return nil
                }
                v = v << 4 | UInt32(d)
            }
            return v
        }
        while i < p.count {
            let b = p[i]
            guard b == UInt8(ascii: "\\"), i + 1 < p.count else {
                // A run without escapes is copied at once.
                var j = p.count
                if i + 1 < p.count, let hit = memchr(p.baseAddress! + i + 1, 0x5C, p.count - i - 1) {
                    j = UnsafeRawPointer(hit) - p.baseAddress!
                }
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: p[i..<j]))
                i = j
                continue
            }
            let c = p[i + 1]
            i += 2
            switch c {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                guard var cp = hex4(i) else {
                    out.append(contentsOf: [0xEF, 0xBF, 0xBD])
                    continue
                }
                i += 4
                if cp >= 0xD800 && cp < 0xDC00, i + 6 <= p.count, p[i] == UInt8(ascii: "\\"),
                    p[i + 1] == UInt8(ascii: "u"), let lo = hex4(i + 2), lo >= 0xDC00, lo < 0xE000
                {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                    i += 6
                }
                let scalar = Unicode.Scalar(cp) ?? "\u{FFFD}"
                out.append(contentsOf: UTF8.encode(scalar)!)
            default: out.append(c)  // \" \\ \/
            }
        }
    }
}
