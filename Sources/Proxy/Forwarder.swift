import HTTP1
import HTTPServer
import Records
import Rules
import Synchronization
import UVCore

/// The request path for one client connection: client request → upstream request → response back.
///
/// Loop-confined; one per client connection, reused across its keep-alive requests.
///
/// 1. `requestReady`: the whole request is buffered and valid. Build the upstream head (hop-by-hop
///    fields removed, `X-Forwarded-*` and `X-Request-Id` added, body re-framed with Content-Length).
/// 2. Take a pooled connection and send.
/// 3. `upstreamHead` → the client's head; `upstreamBody` → written as it arrives (SSE event by
///    event, no buffering); backpressure pauses the upstream while the client is slow.
/// 4. Failures before the client has a head become 502/504 JSON errors; after, the client
///    connection is aborted so a partial response is never mistaken for a whole one.
public final class Forwarder: ConnectionHandler, UpstreamExchange {
    let conn: ServerConnection
    let router: Router
    let metrics: Metrics
    /// The current exchange's routing (its rules stay alive with it).
    private var route: Route?
    /// Output records, when `--records-dir` is set.
    let records: RecordWriter?
    /// Shadow copies of this connection's requests go through the worker's dispatcher.
    let shadows: ShadowDispatcher
    private var notes = ExchangeNotes()
    private var recorded = true
    /// What the record keeps of the response (only with records on).
    private var capture = ResponseCapture()
    private var upstream: UpstreamConnection?
    /// The upstream request head, allocated at the connection's first request.
    private var out = HeadWriter(firstUse: 2048)
    private var retried = false
    /// The current request's shadow copies wait here for its answer, to be scored against it.
    private var pairing: Pairing?
    /// Copies that leave once the current answer's first body byte arrives (`shadow.start`).
    private var heldCopies: [ShadowDispatcher.HeldCopy] = []
    /// A confidence-gated attempt in progress: the candidate's answer, held until its confidence
    /// is known (bounded by the gate's `maxBufferBytes`).
    private var held: Held?
    /// The gate's verdict for the current exchange (for its records).
    private var gateInfo: GateInfo?

    private struct Held {
        var gate: ConfidenceGate
        var variant: Int
        var route: Route
        var head: ResponseHead?
        var framing: BodyFraming = .none
        var body: [UInt8] = []
        var tooLarge = false
        var notes = ExchangeNotes()
        /// `first-event` mode on an SSE answer: where the search for the first event goes on.
        var events: SSEEventFinder?
    }

    /// Per-segment statistics (with records on).
    let stats: SegmentStats?

    init(
        conn: ServerConnection, router: Router, metrics: Metrics, records: RecordWriter?, shadows: ShadowDispatcher,
        stats: SegmentStats?
    ) {
        self.conn = conn
        self.router = router
        self.metrics = metrics
        self.records = records
        self.shadows = shadows
        self.stats = stats
    }

    /// The record facts of the current exchange.
    private func recordInput(_ request: RequestHead, _ outcome: Outcome) -> RecordInput {
        RecordInput(
            role: .served, requestId: conn.requestId, method: request.bytes[request.method],
            path: Router.pathOf(request), route: route, variant: route?.variant ?? -1,
            upstreamAddress: route?.pool.config.address, notes: notes, outcome: outcome,
            requestBody: conn.body, endNs: Loop.hrtime(), gate: gateInfo)
    }

    /// Writes the exchange's output record (once).
    private func record(_ outcome: Outcome) {
        if !heldCopies.isEmpty { releaseCopies() }  // ended without a body byte (error, HEAD, cancel)
        guard !recorded else { return }
        recorded = true
        if let route, let rules = route.rules, let fi = route.flag, !rules.flags[fi].tripwires.isEmpty {
            observeTripwires(rules.flags[fi], route.variant, outcome)
        }
        guard let records, let request = conn.request else {
            endPairing(nil)
            return
        }
        capture.finish()
        let input = recordInput(request, outcome)
        shadows.encoder.write(input, response: &capture, scores: nil, to: records)
        if let stats, let route,
            let event = SegmentStats.event(
                route: route, variant: route.variant, role: "served", outcome: outcome, notes: notes,
                endNs: input.endNs,
                scores: nil)
        {
            stats.observe(event)
        }
        let compare = route.flatMap { r in r.flag.flatMap { r.rules?.flags[$0].shadow?.compare } } ?? false
        endPairing(
            compare ? AnswerSummary(notes: notes, outcome: outcome, capture: capture, endNs: input.endNs) : nil)
    }

    /// The served side ended: shadows waiting for it write their records (scored when `served`).
    private func endPairing(_ served: AnswerSummary?) {
        guard let p = pairing else { return }
        pairing = nil
        p.servedEnded(served)
    }

    /// Counts the ended exchange against the flag's rollback tripwires for the served variant.
    private func observeTripwires(_ flag: Flag, _ variant: Int, _ outcome: Outcome) {
        for wire in flag.tripwires where wire.variant == variant {
            let bad: Bool
            switch wire.metric {
            case .errorRate:
                bad = outcome == .upstreamError || outcome == .timeout || outcome == .incomplete || notes.status >= 500
            case .timeoutRate:
                bad = outcome == .timeout || notes.status == 504
            }
            if wire.observe(bad: bad) {
                metrics.rollbacksTripped.add()
                let figures = wire.trippedWith.withLock { $0 }
                Log.write(.warn, "rollback_tripped") { line in
                    line.field("flag", flag.key)
                    line.field("variant", flag.variants[variant].name)
                    line.field("metric", wire.metric.rawValue)
                    line.field("requests", figures?.total ?? 0)
                    line.field("bad", figures?.bad ?? 0)
                    line.field("window_s", wire.windowSeconds)
                    line.field("to", flag.variants[flag.defaultVariant].name)
                }
            }
        }
    }

    /// The body to send upstream: the request's, with `"model"` rewritten when the route says so.
    private var upstreamBody: OutgoingBody { OutgoingBody(bytes: conn.body, splice: route?.splice) }

    // MARK: ConnectionHandler

    public func requestReady(_ conn: ServerConnection) {
        guard let request = conn.request else { return }
        route = router.route(request, body: conn.body)
        notes = ExchangeNotes()
        notes.startNs = Loop.hrtime()
        recorded = false
        let flag = route.flatMap { r in r.flag.map { r.rules!.flags[$0] } }
        if records != nil { capture.reset(flag?.capture, answer: flag?.shadow?.compare == true) }
        held = nil
        gateInfo = nil
        if let flag, let route, !flag.gates.isEmpty, var gate = flag.gates[route.variant], route.fallbackPool != nil {
            gate.threshold = route.gateThreshold
            held = Held(gate: gate, variant: route.variant, route: route)
            held!.notes.startNs = notes.startNs
        }
        buildUpstreamHead(request, into: &out, bodyCount: upstreamBody.count, shadow: false)
        retried = false
        // Copies first (they leave after this iteration's I/O at the earliest), so an exchange that
        // fails at once still ends their pairing and releases them.
        if let flag, let spec = flag.shadow, let route { mirror(request, route, spec) }
        dispatch(fresh: false)
    }

    /// Lets copies held for the served answer's first byte go (`shadow.start: first-byte`).
    private func releaseCopies() {
        for held in heldCopies { shadows.release(held) }
        heldCopies.removeAll(keepingCapacity: true)
    }

    /// Hands copies to the shadow variants of the flag (sent after the served request went out).
    private func mirror(_ request: RequestHead, _ route: Route, _ spec: ShadowSpec) {
        guard let rules = route.rules, let fi = route.flag, shadows.sampled(spec, bucket: route.shadowBucket) else {
            return
        }
        let flag = rules.flags[fi]
        if records != nil { pairing = Pairing() }
        func send(_ v: Int) {
            let upstream = flag.variants[v].upstream
            let body = OutgoingBody(
                bytes: conn.body, splice: router.splice(upstream: upstream, range: route.modelRange))
            if body.count == upstreamBody.count {
                // The served request's head (same fields, same length) plus the shadow mark.
                shadows.head.reset()
                out.withBytes { shadows.head.append(UnsafeRawBufferPointer(rebasing: $0.dropLast(2))) }
                shadows.head.append("X-ModelFlag-Shadow: 1\r\n\r\n")
            } else {
                buildUpstreamHead(request, into: &shadows.head, bodyCount: body.count, shadow: true)
            }
            if let held = shadows.mirror(
                route: route, variant: v, spec: spec, pool: router.shadowPools[upstream], body: body,
                isHEAD: request.isHEAD, request: recordInput(request, .ok), pairing: pairing,
                evaluatorPool: router.evaluatorPool(flag.evaluator?.address))
            {
                heldCopies.append(held)
            }
        }
        for v in spec.variants where v != route.variant { send(v) }
        // The noise floor: the served variant against itself, the baseline for every comparator.
        if shadows.noiseFloorSampled(spec) { send(route.variant) }
    }

    public func connectionWritable(_ conn: ServerConnection) {
        upstream?.resumeReading()
    }

    public func connectionClosed(_ conn: ServerConnection) {
        if !heldCopies.isEmpty { releaseCopies() }
        held = nil
        if let u = upstream {
            upstream = nil
            u.abandon()
            metrics.clientCancelled.add()
            record(.clientCancelled)
        }
    }

    // MARK: Upstream request

    /// The upstream request head: the client's fields minus hop-by-hop ones, plus ours. A shadow
    /// copy also says `X-ModelFlag-Shadow: 1` so the model server and its logs can tell it apart.
    private func buildUpstreamHead(_ request: RequestHead, into out: inout HeadWriter, bodyCount: Int, shadow: Bool) {
        out.reset()
        request.bytes.withUnsafeBytes { p in
            out.append(UnsafeRawBufferPointer(rebasing: p[request.method]))
            out.append(" ")
            out.append(UnsafeRawBufferPointer(rebasing: p[request.target]))
            out.append(" HTTP/1.1\r\n")
            var sawHost = false
            for f in request.fields {
                switch f.known {
                case .host:
                    sawHost = true
                case .other, .contentType, .xForwardedFor:
                    if f.hasUnderscore || request.isConnectionNamed(f) { continue }
                default:
                    // Hop-by-hop and framing fields, Expect (answered here), and the fields we set.
                    continue
                }
                out.append(UnsafeRawBufferPointer(rebasing: p[f.line]))
                out.crlf()
            }
            if !sawHost, let route {
                out.append("Host: ")
                out.appendString(route.pool.config.address.description)
                out.crlf()
            }
        }
        conn.clientAddress.withUnsafeBytes { out.header("X-Forwarded-For", $0) }
        out.append("X-Forwarded-Proto: http\r\n")
        conn.requestId.withUnsafeBytes { out.header("X-Request-Id", $0) }
        if shadow { out.append("X-ModelFlag-Shadow: 1\r\n") }
        if bodyCount > 0 || request.framing != .none {
            out.append("Content-Length: ")
            out.appendDecimal(bodyCount)
            out.crlf()
        }
        out.crlf()
    }

    private func dispatch(fresh: Bool) {
        guard let request = conn.request, let route else { return }
        let u: UpstreamConnection
        do {
            u = try route.pool.acquire(fresh: fresh)
        } catch {
            fail(.connect(error))
            return
        }
        if fresh { metrics.retries.add() }
        upstream = u
        // A local copy of the writer (its buffer is shared): a synchronous failure may fall back
        // to another variant, which rebuilds `out` while this call is still on the stack.
        let head = out
        head.withBytes { u.send(head: $0, body: upstreamBody, isHEAD: request.isHEAD, to: self) }
    }

    // MARK: UpstreamExchange

    public func upstreamHead(_ head: ResponseHead, framing: BodyFraming) {
        if held != nil {
            held!.head = head
            held!.framing = framing
            held!.notes.status = head.status
            if framing == .chunked || framing == .untilClose { held!.notes.streamed = true }
            if held!.gate.mode == .firstEvent && head.status < 300 && GateConfidence.isSSE(head) {
                held!.events = SSEEventFinder()
            }
            return
        }
        notes.status = head.status
        if records != nil { capture.start(head) }
        if framing == .chunked || framing == .untilClose { notes.streamed = true }
        let clientFraming: ResponseFraming
        switch framing {
        case .none:
            clientFraming =
                head.status == 204 || head.status == 304 && head.contentLength == nil
                ? .empty(contentLength: nil) : .empty(contentLength: head.contentLength)
        case .length(let n):
            clientFraming = .length(n)
        case .chunked, .untilClose:
            clientFraming = .stream
        }
        head.bytes.withUnsafeBytes { p in
            conn.writeHead(
                status: head.status, reason: UnsafeRawBufferPointer(rebasing: p[head.reason]), framing: clientFraming
            ) { h in
                for f in head.fields {
                    switch f.known {
                    case .other, .contentType, .host, .xForwardedFor, .xForwardedProto, .expect:
                        if head.isConnectionNamed(f) { continue }
                        h.append(UnsafeRawBufferPointer(rebasing: p[f.line]))
                        h.crlf()
                    default:
                        continue  // hop-by-hop, framing, and X-Request-Id (ours is set)
                    }
                }
                if let lines = route?.headerLines { h.append(lines) }
            }
        }
    }

    public func upstreamBody(_ bytes: UnsafeRawBufferPointer) {
        if held != nil {
            if held!.notes.firstByteNs == 0 { held!.notes.firstByteNs = Loop.hrtime() }
            held!.notes.bytesOut += bytes.count
            if held!.body.count + bytes.count > held!.gate.maxBufferBytes {
                held!.tooLarge = true
                let u = upstream
                upstream = nil
                u?.abandon()
                decideGate()
                return
            }
            held!.body.append(contentsOf: bytes)
            if held!.events != nil, let first = held!.events!.firstDataEvent(in: held!.body) {
                decideOnFirstEvent(first)
            }
            return
        }
        if notes.firstByteNs == 0 { notes.firstByteNs = Loop.hrtime() }
        notes.bytesOut += bytes.count
        if records != nil { capture.feed(bytes) }
        conn.writeBody(bytes)
        if !heldCopies.isEmpty { releaseCopies() }
        if conn.isWriteBlocked { upstream?.pauseReading() }
    }

    public func upstreamFlush() {
        if held != nil { return }
        conn.flush()
    }

    public func upstreamEnd() {
        upstream = nil
        if held != nil {
            decideGate()
            return
        }
        conn.sendResponseEnd()
        record(.ok)
        route = nil
        conn.endResponse()
    }

    public func upstreamFailed(_ failure: UpstreamFailure) {
        let u = upstream
        upstream = nil
        if failure.allowsRetry(of: u, alreadyRetried: retried) {
            retried = true
            dispatch(fresh: true)
            return
        }
        if var h = held {
            // The candidate failed: the fallback answers instead.
            held = nil
            let (status, outcome) = failure.recorded(status: h.notes.status)
            h.notes.status = status
            fallBack(h, outcome == .timeout ? .candidateTimeout : .candidateError, outcome: outcome)
            return
        }
        fail(failure)
    }

    // MARK: Confidence gate

    /// The candidate's answer is complete (or too large): serve it, or fall back.
    private func decideGate() {
        guard let h = held else { return }
        held = nil
        var confidence: Double?
        let result: GateResult
        if h.tooLarge {
            result = .tooLarge
        } else if let head = h.head, head.status >= 500 {
            result = .candidateError
        } else if let head = h.head, let c = GateConfidence.extract(h.gate.source, head: head, body: h.body) {
            confidence = c
            result = c >= h.gate.threshold ? .passed : .belowThreshold
        } else {
            result = .noConfidence
        }
        guard result == .passed, let head = h.head else {
            var info = h
            info.notes.status = h.head?.status ?? 0
            gateInfo = GateInfo(
                candidateVariant: h.variant, threshold: h.gate.threshold, confidence: confidence, result: result)
            fallBack(info, result, outcome: h.tooLarge ? .incomplete : .ok, confidence: confidence)
            return
        }
        gateInfo = GateInfo(
            candidateVariant: h.variant, threshold: h.gate.threshold, confidence: confidence, result: .passed)
        observeGate(h, fallback: false)
        // Serve the held answer as if it streamed now (time to first byte is now: the cost of gating).
        notes.firstByteNs = 0
        upstreamHead(head, framing: h.framing)
        h.body.withUnsafeBytes { if !$0.isEmpty { upstreamBody($0) } }
        conn.sendResponseEnd()
        record(.ok)
        route = nil
        conn.endResponse()
    }

    /// `first-event` mode: the candidate's stream delivered its first event. Passing, what came so
    /// far goes to the client and the rest streams through; otherwise the stream is cut and the
    /// fallback answers.
    private func decideOnFirstEvent(_ event: Range<Int>) {
        guard let h = held, let head = h.head else { return }
        let confidence = GateConfidence.extract(h.gate.source, head: head, body: Array(h.body[event]))
        let result: GateResult = confidence.map { $0 >= h.gate.threshold ? .passed : .belowThreshold } ?? .noConfidence
        held = nil
        gateInfo = GateInfo(
            candidateVariant: h.variant, threshold: h.gate.threshold, confidence: confidence, result: result)
        guard result == .passed else {
            let u = upstream
            upstream = nil
            u?.abandon()
            fallBack(h, result, outcome: .ok, confidence: confidence)
            return
        }
        observeGate(h, fallback: false)
        upstreamHead(head, framing: h.framing)
        h.body.withUnsafeBytes { upstreamBody($0) }
        conn.flush()
    }

    /// Records the candidate's attempt, then sends the same request to the gate's fallback.
    private func fallBack(_ h: Held, _ result: GateResult, outcome: Outcome, confidence: Double? = nil) {
        gateInfo = GateInfo(
            candidateVariant: h.variant, threshold: h.gate.threshold, confidence: confidence, result: result)
        observeGate(h, fallback: true)
        if let records, let request = conn.request {
            var attempt = ResponseCapture()
            attempt.reset(h.route.rules?.flags[h.route.flag!].capture, answer: false)
            if let head = h.head {
                attempt.start(head)
                h.body.withUnsafeBytes { attempt.feed($0) }
            }
            attempt.finish()
            let input = RecordInput(
                role: .gated, requestId: conn.requestId, method: request.bytes[request.method],
                path: Router.pathOf(request), route: h.route, variant: h.variant,
                upstreamAddress: h.route.pool.config.address, notes: h.notes, outcome: outcome,
                requestBody: conn.body, endNs: Loop.hrtime(), gate: gateInfo)
            shadows.encoder.write(input, response: &attempt, scores: nil, to: records)
        }
        guard let request = conn.request, let next = h.route.fallingBack(to: h.gate.fallback) else {
            fail(.connect(.eof))
            return
        }
        route = next
        let start = notes.startNs
        notes = ExchangeNotes()
        notes.startNs = start
        if records != nil {
            let flag = next.rules?.flags[next.flag!]
            capture.reset(flag?.capture, answer: flag?.shadow?.compare == true)
        }
        buildUpstreamHead(request, into: &out, bodyCount: upstreamBody.count, shadow: false)
        retried = false
        dispatch(fresh: false)
    }

    private func observeGate(_ h: Held, fallback: Bool) {
        metrics.gateDecisions[fallback ? 1 : 0].add()
        guard let stats,
            var event = SegmentStats.event(
                route: h.route, variant: h.variant, role: "gated", outcome: .ok, notes: h.notes, endNs: Loop.hrtime(),
                scores: nil)
        else { return }
        event.fallback = fallback
        stats.observe(event)
    }

    private func fail(_ failure: UpstreamFailure) {
        metrics.upstreamErrors[failure.kind.rawValue].add()
        if conn.hasCommittedResponse {
            record(.incomplete)
            Log.write(.error, "upstream_aborted") { line in
                line.field("kind", failure.kind.label)
                conn.requestId.withUnsafeBytes { line.field("request_id", bytes: $0) }
            }
            conn.abortResponse()
            return
        }
        let (status, outcome) = failure.recorded(status: 0)
        notes.status = status
        record(outcome)
        switch failure {
        case .connect(let e):
            conn.respondError(
                status: 502, code: "upstream_unreachable", message: "cannot connect to the model server: \(e)",
                close: false)
        case .connectTimeout:
            conn.respondError(
                status: 504, code: "upstream_connect_timeout",
                message: "connecting to the model server timed out (--connect-timeout)", close: false)
        case .broken(let e, _, _):
            conn.respondError(
                status: 502, code: "upstream_reset",
                message: "the model server closed the connection before answering: \(e)", close: false)
        case .badResponse(let e):
            conn.respondError(
                status: 502, code: "upstream_bad_response",
                message: "the model server sent a malformed response: \(e.message)", close: false)
        case .headerTimeout:
            conn.respondError(
                status: 504, code: "upstream_timeout",
                message: "the model server did not answer within --upstream-header-timeout", close: false)
        case .idleTimeout:
            conn.respondError(
                status: 504, code: "upstream_idle_timeout",
                message: "the model server stalled longer than --upstream-idle-timeout", close: false)
        }
    }
}
