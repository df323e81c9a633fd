import HTTP1
import HTTPServer
import Rules
import UVCore

/// What the external evaluator said of one shadow pair (for its record).
enum EvaluatorResult {
    case scores([(name: String, value: Double)])
    /// `timeout`, `unreachable`, `bad_response`, `in_flight_cap`.
    case failed(String)
}

/// One POST of a shadow pair to the flag's evaluator. The shadow record waits for it (the
/// exchange holds it), up to the evaluator's timeout; nothing a client waits for depends on it.
/// Loop-confined; bounded by the dispatcher's per-worker cap.
final class EvaluatorCall: UpstreamExchange {
    let dispatcher: ShadowDispatcher
    let exchange: ShadowExchange
    let deadlineNs: UInt64
    var index = -1
    private var upstream: UpstreamConnection?
    private var response: [UInt8] = []
    private var status = 0
    private var done = false
    static let maxResponse = 64 * 1024

    init(dispatcher: ShadowDispatcher, exchange: ShadowExchange, timeoutMs: UInt64) {
        self.dispatcher = dispatcher
        self.exchange = exchange
        deadlineNs = Loop.hrtime() + timeoutMs * 1_000_000
    }

    func start(pool: UpstreamPool, path: String, body: [UInt8]) {
        var head = HeadWriter(capacity: 256)
        head.append("POST ")
        head.appendString(path)
        head.append(" HTTP/1.1\r\nHost: ")
        head.appendString(pool.config.address.description)
        head.append("\r\nContent-Type: application/json\r\nContent-Length: ")
        head.appendDecimal(body.count)
        head.append("\r\n\r\n")
        do {
            let u = try pool.acquire()
            upstream = u
            head.withBytes { u.send(head: $0, body: OutgoingBody(bytes: body), isHEAD: false, to: self) }
        } catch {
            finish(.failed("unreachable"))
        }
    }

    func timedOut() {
        let u = upstream
        upstream = nil
        u?.abandon()
        finish(.failed("timeout"))
    }

    private func finish(_ result: EvaluatorResult) {
        guard !done else { return }
        done = true
        dispatcher.evaluatorEnded(self, ok: { if case .scores = result { return true } else { return false } }())
        exchange.evaluated(result)
    }

    /// `{"scores": {"name": number, ...}}`; anything else is a bad response.
    static func parse(_ body: [UInt8]) -> EvaluatorResult {
        guard let root = try? JSONParser.parse(body), let scores = root["scores"]?.object else {
            return .failed("bad_response")
        }
        var out: [(name: String, value: Double)] = []
        for (name, node) in scores {
            if let v = node.number, v.isFinite { out.append((name, v)) }
        }
        return .scores(out)
    }

    // MARK: UpstreamExchange

    func upstreamHead(_ head: ResponseHead, framing: BodyFraming) { status = head.status }

    func upstreamBody(_ bytes: UnsafeRawBufferPointer) {
        if response.count + bytes.count <= EvaluatorCall.maxResponse { response.append(contentsOf: bytes) }
    }

    func upstreamFlush() {}

    func upstreamEnd() {
        upstream = nil
        finish(status == 200 ? EvaluatorCall.parse(response) : .failed("bad_response"))
    }

    func upstreamFailed(_ failure: UpstreamFailure) {
        upstream = nil
        switch failure {
        case .connectTimeout, .headerTimeout, .idleTimeout: finish(.failed("timeout"))
        case .connect: finish(.failed("unreachable"))
        default: finish(.failed("bad_response"))
        }
    }
}
