import HTTP1
import HTTPServer
import Records
import Rules
import UVCore

/// How one exchange ended, as output records say it.
enum Outcome: String {
    case ok
    case upstreamError = "upstream_error"
    case timeout
    case clientCancelled = "client_cancelled"
    case incomplete
    /// A shadow copy that was never sent (in-flight cap, body too large).
    case dropped
}

/// What the forwarder notes about one exchange for its output record.
struct ExchangeNotes {
    var startNs: UInt64 = 0
    var firstByteNs: UInt64 = 0
    var status = 0
    var bytesOut = 0
    var streamed = false
}

/// Token usage as the model server reported it (the last `"usage"` object in the response).
struct Usage {
    var prompt: Int?
    var completion: Int?
    var total: Int?

    /// Finds the last `"usage"` object in `tail` (the end of the response body) and reads its
    /// token counts. A byte scan: no JSON tree.
    static func find(in tail: [UInt8]) -> Usage? {
        tail.withUnsafeBytes { p -> Usage? in
            guard let object = lastUsageObject(p) else { return nil }
            let u = Usage(
                prompt: number("\"prompt_tokens\"", in: object),
                completion: number("\"completion_tokens\"", in: object),
                total: number("\"total_tokens\"", in: object))
            return u.prompt == nil && u.completion == nil && u.total == nil ? nil : u
        }
    }

    /// The bytes between the last `"usage"` key and the next `}`.
    private static func lastUsageObject(_ p: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        let key: StaticString = "\"usage\""
        let k = UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount)
        guard p.count >= k.count else { return nil }
        var i = p.count - k.count
        while i >= 0 {
            if p[i] == k[0] && UnsafeRawBufferPointer(rebasing: p[i..<(i + k.count)]).elementsEqual(k) { break }
            i -= 1
        }
        guard i >= 0 else { return nil }
        let rest = UnsafeRawBufferPointer(rebasing: p[(i + k.count)...])
        guard let close = rest.firstIndex(of: UInt8(ascii: "}")) else { return nil }
        return UnsafeRawBufferPointer(rebasing: rest[0..<close])
    }

    private static func number(_ key: StaticString, in object: UnsafeRawBufferPointer) -> Int? {
        guard let j = ByteSearch.find(key, in: object) else { return nil }
        var p = j + key.utf8CodeUnitCount
        while p < object.count && (object[p] == 0x20 || object[p] == UInt8(ascii: ":")) { p += 1 }
        var v = 0
        var digits = 0
        while p < object.count, object[p] >= 0x30, object[p] <= 0x39, digits < 12 {
            v = v * 10 + Int(object[p] - 0x30)
            p += 1
            digits += 1
        }
        return digits > 0 ? v : nil
    }
}

/// One record's facts, gathered by the forwarder (served) or a shadow exchange (shadow).
struct RecordInput {
    enum Role: String {
        /// The answer the client got.
        case served
        /// A mirrored copy's answer.
        case shadow
        /// A confidence-gated candidate's answer that was not served (the fallback's was).
        case gated
    }

    var role: Role
    var requestId: [UInt8]
    var method: ArraySlice<UInt8>
    var path: ArraySlice<UInt8>
    /// The routing decision of the client's request (a shadow record carries its served twin's).
    var route: Route?
    /// The variant this record is about: the served one, or the shadow's.
    var variant: Int
    /// Written only when no rules name the upstream (turned into text only then).
    var upstreamAddress: SocketAddress?
    var notes: ExchangeNotes
    var outcome: Outcome
    var requestBody: [UInt8]
    var endNs: UInt64
    /// The confidence gate's verdict, on gated attempts and on the record of what was served.
    var gate: GateInfo? = nil
    /// The external evaluator's answer (shadow records of sampled pairs).
    var evaluation: EvaluatorResult? = nil
}

/// Builds one record as JSON bytes (no Foundation; one buffer per exchange owner, reused).
/// Schema `modelflag.record/v1`, documented field by field in the README; the writer adds `seq`.
struct RecordEncoder {
    /// Reused for every record (a `ByteWriter`: a record takes about a hundred appends).
    private var buf = ByteWriter(capacity: 4096)
    /// Most buffer memory kept between records.
    static let keptBytes = 1024 * 1024

    init() {}

    /// Encodes one record and hands it to the writer, which copies it into its queue (no array is
    /// allocated per record).
    mutating func write(
        _ r: RecordInput, response: inout ResponseCapture, scores: PairScores?, to records: RecordWriter
    ) {
        encode(r, response: &response, scores: scores)
        buf.withBytes { _ = records.submit($0) }
    }

    private mutating func encode(_ r: RecordInput, response: inout ResponseCapture, scores: PairScores?) {
        // A record over `keptBytes` (the capture cap is the rules file's choice) leaves its memory
        // to the next record only, not to every one after it.
        buf.removeAll(keepingAtMost: RecordEncoder.keptBytes)
        let route = r.route
        lit("{\"schema\":\"modelflag.record/v1\",\"ts\":\"")
        Log.appendTimestamp(&buf)
        lit("\",\"request_id\":")
        JSONText.appendString(&buf, r.requestId)
        switch r.role {
        case .served: lit(",\"role\":\"served\",\"flag\":")
        case .shadow: lit(",\"role\":\"shadow\",\"flag\":")
        case .gated: lit(",\"role\":\"gated\",\"flag\":")
        }
        var flag: Flag?
        if let route, let rules = route.rules, let fi = route.flag {
            let f = rules.flags[fi]
            flag = f
            let names = rules.literals
            let upstream = f.variants[r.variant].upstream
            put(names.flagKeys[fi])
            lit(",\"variant\":")
            put(names.variants[fi][r.variant])
            if r.role == .shadow {
                lit(",\"served_variant\":")
                put(names.variants[fi][route.variant])
            } else if let from = route.rolledBackFrom {
                lit(",\"rolled_back_from\":")
                put(names.variants[fi][from])
            }
            lit(",\"model_version\":")
            put(names.modelVersions[upstream])
            lit(",\"upstream\":")
            put(names.upstreams[upstream])
        } else if let route, let rules = route.rules {
            lit("null,\"variant\":null,\"model_version\":")
            put(rules.literals.modelVersions[rules.defaultUpstream])
            lit(",\"upstream\":")
            put(rules.literals.upstreams[rules.defaultUpstream])
        } else {
            lit("null,\"variant\":null,\"model_version\":null,\"upstream\":")
            JSONText.appendString(&buf, (r.upstreamAddress?.description ?? "").utf8)
        }
        lit(",\"rules_revision\":")
        if let rules = route?.rules {
            put(rules.literals.revision)
        } else {
            lit("null")
        }
        lit(",\"targeting_key_source\":")
        if let rules = route?.rules, let source = route?.keySource {
            put(rules.literals.keySources[source])
            lit(",\"targeting_key_hash\":\"")
            appendHex64(route?.keyHash ?? 0)
            buf.appendByte(UInt8(ascii: "\""))
        } else {
            lit("null,\"targeting_key_hash\":null")
        }
        lit(",\"segments\":")
        if let rules = route?.rules, let fi = route?.flag {
            RecordEncoder.appendSegments(&buf, rules.literals.segments[fi], route?.segments ?? 0)
        } else {
            lit("[]")
        }
        lit(",\"method\":")
        JSONText.appendString(&buf, r.method)
        lit(",\"path\":")
        JSONText.appendString(&buf, r.path)
        let notes = r.notes
        lit(",\"status\":")
        appendInt(notes.status)
        lit(",\"outcome\":\"")
        buf.appendUTF8(r.outcome.rawValue)
        buf.appendByte(UInt8(ascii: "\""))
        lit(",\"latency_ms\":")
        if notes.startNs != 0 && r.endNs >= notes.startNs {
            appendMillis(r.endNs - notes.startNs)
        } else {
            lit("null")
        }
        lit(",\"ttft_ms\":")
        if notes.streamed && notes.firstByteNs != 0 {
            appendMillis(notes.firstByteNs - notes.startNs)
        } else {
            lit("null")
        }
        lit(",\"bytes_in\":")
        appendInt(r.requestBody.count)
        lit(",\"bytes_out\":")
        appendInt(notes.bytesOut)
        lit(",\"usage\":")
        if r.outcome == .ok, let usage = response.usage {
            lit("{\"prompt_tokens\":")
            appendInt(usage.prompt)
            lit(",\"completion_tokens\":")
            appendInt(usage.completion)
            lit(",\"total_tokens\":")
            appendInt(usage.total)
            buf.appendByte(UInt8(ascii: "}"))
        } else {
            lit("null")
        }
        let answer = response.answer
        if response.wantsAnswer {
            lit(",\"finish_reason\":")
            if let f = answer.finishReason {
                JSONText.appendString(&buf, f)
            } else {
                lit("null")
            }
            lit(",\"events\":")
            if answer.isSSE { appendInt(answer.events) } else { lit("null") }
        }
        if let g = r.gate, let route, let rules = route.rules, let fi = route.flag {
            lit(",\"gate\":{\"variant\":")
            JSONText.appendString(&buf, rules.flags[fi].variants[g.candidateVariant].name.utf8)
            lit(",\"threshold\":")
            appendFixed(g.threshold)
            lit(",\"confidence\":")
            if let c = g.confidence { appendFixed(c) } else { lit("null") }
            lit(",\"result\":\"")
            buf.appendUTF8(g.result.rawValue)
            lit("\"}")
        }
        switch r.evaluation {
        case .scores(let list):
            lit(",\"evaluator\":{\"scores\":{")
            for (i, s) in list.enumerated() {
                if i > 0 { buf.appendByte(UInt8(ascii: ",")) }
                JSONText.appendString(&buf, s.name.utf8)
                buf.appendByte(UInt8(ascii: ":"))
                appendFixed(s.value)
            }
            lit("}}")
        case .failed(let why):
            lit(",\"evaluator\":{\"error\":")
            JSONText.appendString(&buf, why.utf8)
            buf.appendByte(UInt8(ascii: "}"))
        case nil:
            break
        }
        if r.role == .shadow {
            lit(",\"scores\":")
            if let scores { appendScores(scores) } else { lit("null") }
        }
        lit(",\"capture\":\"")
        buf.appendUTF8(response.mode.rawValue)
        buf.appendByte(UInt8(ascii: "\""))
        switch response.mode {
        case .none:
            break
        case .hash:
            lit(",\"request\":{\"sha256\":\"")
            r.requestBody.withUnsafeBytes { Digest.sha256Hex($0, into: &buf) }
            lit("\"},\"response\":{\"sha256\":\"")
            response.digestHex(into: &buf)
            lit("\",\"text_sha256\":\"")
            answer.text.withUnsafeBytes { Digest.sha256Hex($0, into: &buf) }
            lit("\"}")
        case .full:
            let cap = response.cap
            lit(",\"request\":{")
            appendRequestBody(r.requestBody, flag: flag, cap: cap)
            lit("},\"response\":{\"body\":")
            let cut = response.prefix.withUnsafeBytes { CaptureText.appendString(&buf, $0, cap: cap) }
            lit(",\"truncated\":")
            appendBool(cut || response.total > response.prefix.count)
            lit(",\"text\":")
            let textCut = answer.text.withUnsafeBytes { CaptureText.appendString(&buf, $0, cap: cap) }
            lit(",\"text_truncated\":")
            appendBool(textCut || answer.truncated)
            buf.appendByte(UInt8(ascii: "}"))
        }
        buf.appendByte(UInt8(ascii: "}"))
    }

    /// `"body":"…","truncated":…` for the request, with the flag's `redact` fields hashed. A body
    /// that cannot be redacted (not JSON) is stored as its hash only, never in clear.
    private mutating func appendRequestBody(_ body: [UInt8], flag: Flag?, cap: Int) {
        let redact = flag?.capture.redact ?? []
        body.withUnsafeBytes { raw in
            if redact.isEmpty {
                lit("\"body\":")
                let cut = CaptureText.appendString(&buf, raw, cap: cap)
                lit(",\"truncated\":")
                appendBool(cut)
                return
            }
            guard let redacted = Redactor(paths: redact).redact(raw) else {
                lit("\"body\":null,\"redaction\":\"failed\",\"sha256\":\"")
                Digest.sha256Hex(raw, into: &buf)
                buf.appendByte(UInt8(ascii: "\""))
                return
            }
            lit("\"body\":")
            let cut = redacted.withUnsafeBytes { CaptureText.appendString(&buf, $0, cap: cap) }
            lit(",\"truncated\":")
            appendBool(cut)
            lit(",\"redacted\":true")
        }
    }

    /// `["faq","enterprise"]`: the flag's segments set in `mask` (records, evaluator calls), from
    /// the flag's `NameLiterals.segments`.
    static func appendSegments<B: ByteSink>(_ buf: inout B, _ names: [[UInt8]], _ mask: UInt64) {
        buf.appendByte(UInt8(ascii: "["))
        var first = true
        for (i, name) in names.prefix(64).enumerated() where mask & (1 << UInt64(i)) != 0 {
            if !first { buf.appendByte(UInt8(ascii: ",")) }
            first = false
            name.withUnsafeBytes { buf.appendBytes($0) }
        }
        buf.appendByte(UInt8(ascii: "]"))
    }

    private mutating func appendScores(_ s: PairScores) {
        lit("{\"status_match\":")
        appendBool(s.statusMatch)
        lit(",\"finish_reason_match\":")
        appendOptionalBool(s.finishReasonMatch)
        lit(",\"served_json_valid\":")
        appendOptionalBool(s.servedJSONValid)
        lit(",\"shadow_json_valid\":")
        appendOptionalBool(s.shadowJSONValid)
        lit(",\"exact_match\":")
        appendBool(s.exactMatch)
        lit(",\"rouge_l\":")
        appendFixed(s.rougeL)
        lit(",\"jaccard\":")
        appendFixed(s.jaccard)
        lit(",\"length_ratio\":")
        if let r = s.lengthRatio { appendFixed(r) } else { lit("null") }
        lit(",\"served_refusal\":")
        appendBool(s.servedRefusal)
        lit(",\"shadow_refusal\":")
        appendBool(s.shadowRefusal)
        lit(",\"served_empty\":")
        appendBool(s.servedEmpty)
        lit(",\"shadow_empty\":")
        appendBool(s.shadowEmpty)
        lit(",\"latency_delta_ms\":")
        appendFixed(s.latencyDeltaMs)
        lit(",\"ttft_delta_ms\":")
        if let d = s.ttftDeltaMs { appendFixed(d) } else { lit("null") }
        lit(",\"completion_tokens_delta\":")
        appendInt(s.completionTokensDelta)
        lit(",\"truncated\":")
        appendBool(s.truncated)
        buf.appendByte(UInt8(ascii: "}"))
    }

    /// A literal's bytes: a copy from the binary's constant data (appending a `String`'s UTF-8
    /// view goes through the string's storage checks, thirty-odd times per record).
    @inline(__always)
    private mutating func lit(_ s: StaticString) {
        buf.append(s)
    }

    /// A literal made when the rules loaded (`NameLiterals`).
    private mutating func put(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buf.appendBytes($0) }
    }

    private mutating func appendOptionalBool(_ b: Bool?) {
        if let b { appendBool(b) } else { lit("null") }
    }

    /// A number with up to 4 decimals (no exponent, no trailing zeros beyond one).
    private mutating func appendFixed(_ v: Double) {
        guard v.isFinite else {
            lit("null")
            return
        }
        let scaled = (abs(v) * 10_000).rounded()
        if v < 0 && scaled > 0 { buf.appendByte(UInt8(ascii: "-")) }
        let whole = Int(scaled / 10_000)
        var frac = Int(scaled.truncatingRemainder(dividingBy: 10_000))
        appendInt(whole)
        buf.appendByte(UInt8(ascii: "."))
        var digits = 4
        while digits > 1 && frac % 10 == 0 {
            frac /= 10
            digits -= 1
        }
        var div = 1
        for _ in 1..<digits { div *= 10 }
        while div > 0 {
            buf.appendByte(UInt8(truncatingIfNeeded: (frac / div) % 10) + 0x30)
            div /= 10
        }
    }

    private mutating func appendBool(_ b: Bool) {
        b ? lit("true") : lit("false")
    }

    /// Decimal digits without building a String; nil is `null`.
    private mutating func appendInt(_ value: Int?) {
        guard let value else {
            lit("null")
            return
        }
        DecimalText.append(value, to: &buf)
    }

    private mutating func appendHex64(_ v: UInt64) {
        let hex: StaticString = "0123456789abcdef"
        var shift: UInt64 = 60
        while true {
            buf.appendByte(hex.utf8Start[Int((v >> shift) & 15)])
            if shift == 0 { break }
            shift -= 4
        }
    }

    /// Milliseconds with three decimals, from nanoseconds.
    private mutating func appendMillis(_ ns: UInt64) {
        let us = ns / 1000
        appendInt(Int(us / 1000))
        buf.appendByte(UInt8(ascii: "."))
        let frac = Int(us % 1000)
        if frac < 100 { buf.appendByte(UInt8(ascii: "0")) }
        if frac < 10 { buf.appendByte(UInt8(ascii: "0")) }
        appendInt(frac)
    }
}
