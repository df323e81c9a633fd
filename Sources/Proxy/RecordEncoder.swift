import HTTPServer
import Records
import Rules

/// How one exchange ended, as output records say it.
enum Outcome: String {
    case ok
    case upstreamError = "upstream_error"
    case timeout
    case clientCancelled = "client_cancelled"
    case incomplete
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
        let key = Array("\"usage\"".utf8)
        guard tail.count >= key.count else { return nil }
        var i = tail.count - key.count
        while i >= 0 {
            if tail[i] == key[0] && tail[i..<(i + key.count)].elementsEqual(key) { break }
            i -= 1
        }
        guard i >= 0 else { return nil }
        let rest = tail[(i + key.count)...]
        guard let close = rest.firstIndex(of: UInt8(ascii: "}")) else { return nil }
        let object = tail[rest.startIndex..<close]
        func number(_ name: String) -> Int? {
            let k = Array("\"\(name)\"".utf8)
            guard object.count > k.count else { return nil }
            var j = object.startIndex
            while j + k.count <= object.endIndex {
                if object[j..<(j + k.count)].elementsEqual(k) {
                    var p = j + k.count
                    while p < object.endIndex && (object[p] == 0x20 || object[p] == UInt8(ascii: ":")) { p += 1 }
                    var v = 0
                    var digits = 0
                    while p < object.endIndex, object[p] >= 0x30, object[p] <= 0x39, digits < 12 {
                        v = v * 10 + Int(object[p] - 0x30)
                        p += 1
                        digits += 1
                    }
                    return digits > 0 ? v : nil
                }
                j += 1
            }
            return nil
        }
        let u = Usage(
            prompt: number("prompt_tokens"), completion: number("completion_tokens"), total: number("total_tokens"))
        return u.prompt == nil && u.completion == nil && u.total == nil ? nil : u
    }
}

/// Builds one served-request record as JSON bytes (no Foundation, one buffer per worker reused).
/// Schema `modelflag.record/v1`, documented field by field in the README; the writer adds `seq`.
struct RecordEncoder {
    private var buf: [UInt8] = []

    init() { buf.reserveCapacity(1024) }

    mutating func served(
        requestId: [UInt8], method: ArraySlice<UInt8>, path: ArraySlice<UInt8>, route: Route?, upstreamAddress: String,
        notes: ExchangeNotes, outcome: Outcome, bytesIn: Int, endNs: UInt64, usage: Usage?
    ) -> [UInt8] {
        buf.removeAll(keepingCapacity: true)
        buf.append(contentsOf: "{\"schema\":\"modelflag.record/v1\",\"ts\":\"".utf8)
        Log.appendTimestamp(&buf)
        buf.append(contentsOf: "\",\"request_id\":".utf8)
        JSONText.appendString(&buf, requestId)
        buf.append(contentsOf: ",\"role\":\"served\",\"flag\":".utf8)
        if let route, let rules = route.rules, let fi = route.flag {
            let flag = rules.flags[fi]
            let upstream = rules.upstreams[flag.variants[route.variant].upstream]
            JSONText.appendString(&buf, flag.key.utf8)
            buf.append(contentsOf: ",\"variant\":".utf8)
            JSONText.appendString(&buf, flag.variants[route.variant].name.utf8)
            buf.append(contentsOf: ",\"model_version\":".utf8)
            JSONText.appendString(&buf, upstream.modelVersion.utf8)
            buf.append(contentsOf: ",\"upstream\":".utf8)
            JSONText.appendString(&buf, upstream.name.utf8)
        } else if let route, let rules = route.rules {
            let upstream = rules.upstreams[rules.defaultUpstream]
            buf.append(contentsOf: "null,\"variant\":null,\"model_version\":".utf8)
            JSONText.appendString(&buf, upstream.modelVersion.utf8)
            buf.append(contentsOf: ",\"upstream\":".utf8)
            JSONText.appendString(&buf, upstream.name.utf8)
        } else {
            buf.append(contentsOf: "null,\"variant\":null,\"model_version\":null,\"upstream\":".utf8)
            JSONText.appendString(&buf, upstreamAddress.utf8)
        }
        buf.append(contentsOf: ",\"rules_revision\":".utf8)
        if let rules = route?.rules {
            JSONText.appendString(&buf, rules.revision.utf8)
        } else {
            buf.append(contentsOf: "null".utf8)
        }
        buf.append(contentsOf: ",\"targeting_key_source\":".utf8)
        if let rules = route?.rules, let source = route?.keySource {
            JSONText.appendString(&buf, rules.keySources[source].description.utf8)
        } else {
            buf.append(contentsOf: "null".utf8)
        }
        buf.append(contentsOf: ",\"method\":".utf8)
        JSONText.appendString(&buf, method)
        buf.append(contentsOf: ",\"path\":".utf8)
        JSONText.appendString(&buf, path)
        buf.append(contentsOf: ",\"status\":\(notes.status),\"outcome\":\"\(outcome.rawValue)\"".utf8)
        buf.append(contentsOf: ",\"latency_ms\":".utf8)
        appendMillis(endNs - notes.startNs)
        buf.append(contentsOf: ",\"ttft_ms\":".utf8)
        if notes.streamed && notes.firstByteNs != 0 {
            appendMillis(notes.firstByteNs - notes.startNs)
        } else {
            buf.append(contentsOf: "null".utf8)
        }
        buf.append(contentsOf: ",\"bytes_in\":\(bytesIn),\"bytes_out\":\(notes.bytesOut),\"usage\":".utf8)
        if let usage {
            func n(_ v: Int?) -> String { v.map(String.init) ?? "null" }
            buf.append(
                contentsOf:
                    "{\"prompt_tokens\":\(n(usage.prompt)),\"completion_tokens\":\(n(usage.completion)),\"total_tokens\":\(n(usage.total))}}"
                    .utf8)
        } else {
            buf.append(contentsOf: "null}".utf8)
        }
        return buf
    }

    /// Milliseconds with three decimals, from nanoseconds.
    private mutating func appendMillis(_ ns: UInt64) {
        let us = ns / 1000
        buf.append(contentsOf: String(us / 1000).utf8)
        buf.append(UInt8(ascii: "."))
        let frac = us % 1000
        if frac < 100 { buf.append(UInt8(ascii: "0")) }
        if frac < 10 { buf.append(UInt8(ascii: "0")) }
        buf.append(contentsOf: String(frac).utf8)
    }
}
