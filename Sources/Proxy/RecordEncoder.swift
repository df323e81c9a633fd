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

/// Builds one served-request record as JSON bytes (no Foundation, one buffer per worker reused).
/// Schema `modelflag.record/v1`, documented field by field in the README; the writer adds `seq`.
struct RecordEncoder {
    private var buf: [UInt8] = []

    init() { buf.reserveCapacity(1024) }

    mutating func served(
        requestId: [UInt8], method: ArraySlice<UInt8>, path: ArraySlice<UInt8>, route: Route?, upstreamAddress: String,
        notes: ExchangeNotes, outcome: Outcome, bytesIn: Int, endNs: UInt64
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
        buf.append(contentsOf: ",\"bytes_in\":\(bytesIn),\"bytes_out\":\(notes.bytesOut)}".utf8)
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
