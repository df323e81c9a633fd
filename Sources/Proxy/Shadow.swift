import HTTP1
import HTTPServer
import Records
import Rules
import UVCore

/// Shadow mode, per worker: copies of served requests sent to candidate variants, whose answers
/// are read whole, recorded, and never reach a client.
///
/// Loop-confined. The client's exchange only hands a copy over and goes on: nothing here is
/// awaited by a client response or by the next request on its connection. Bounded: at most the
/// flag's `maxInFlight` shadow calls per worker (a copy beyond it is dropped, counted and
/// recorded as `dropped`), each cut at its `timeoutMs` by one sweep timer.
final class ShadowDispatcher {
    let loop: Loop
    let metrics: Metrics
    let records: RecordWriter?
    private(set) var active: [ShadowExchange] = []
    private var sweep: Timer?
    private var sweeping = false
    private var rng: UInt64
    var encoder = RecordEncoder()
    /// Shared by exchanges that end at once (records are encoded synchronously).
    var scratch = ResponseCapture()
    static let sweepMs: UInt64 = 50

    init(loop: Loop, metrics: Metrics, records: RecordWriter?) {
        self.loop = loop
        self.metrics = metrics
        self.records = records
        rng = Loop.hrtime() | 1
    }

    /// xorshift64*: the random sample for `sampleBy: random` and requests without a key.
    private func random32() -> UInt32 {
        rng ^= rng >> 12
        rng ^= rng << 25
        rng ^= rng >> 27
        return UInt32(truncatingIfNeeded: (rng &* 0x2545_F491_4F6C_DD1D) >> 32)
    }

    /// Whether this request is in the flag's shadow sample.
    func sampled(_ spec: ShadowSpec, bucket: UInt32?) -> Bool {
        if spec.percentage >= 100 { return true }
        if spec.percentage <= 0 { return false }
        let b = spec.sampleBy == .targetingKey ? (bucket ?? random32()) : random32()
        return Double(b) < spec.percentage / 100 * 4_294_967_296
    }

    /// Sends one copy, or records it as dropped when over the caps.
    func mirror(
        route: Route, variant: Int, spec: ShadowSpec, pool: UpstreamPool, head: [UInt8], body: OutgoingBody,
        isHEAD: Bool, request: RecordInput
    ) {
        let ex = ShadowExchange(dispatcher: self, route: route, variant: variant, spec: spec, request: request)
        if request.requestBody.count > spec.maxBodyBytes {
            metrics.shadowDropped[1].add()
            ex.finish(.dropped)
            return
        }
        if active.count >= spec.maxInFlight {
            metrics.shadowDropped[0].add()
            ex.finish(.dropped)
            return
        }
        metrics.shadowSent.add()
        ex.index = active.count
        active.append(ex)
        startSweep()
        ex.send(pool: pool, head: head, body: body, isHEAD: isHEAD)
    }

    func ended(_ ex: ShadowExchange) {
        guard ex.index >= 0, ex.index < active.count, active[ex.index] === ex else { return }
        let last = active.removeLast()
        if last !== ex {
            active[ex.index] = last
            last.index = ex.index
        }
        ex.index = -1
    }

    private func startSweep() {
        guard !sweeping else { return }
        if sweep == nil { sweep = try? Timer(loop: loop) { [weak self] in self?.sweepDue() } }
        sweeping = true
        sweep?.start(ms: ShadowDispatcher.sweepMs, repeatMs: ShadowDispatcher.sweepMs)
    }

    private func sweepDue() {
        let now = Loop.hrtime()
        var i = 0
        while i < active.count {
            let ex = active[i]
            if now >= ex.deadlineNs {
                ex.timedOut()  // removes itself from `active`
            } else {
                i += 1
            }
        }
        if active.isEmpty {
            sweeping = false
            sweep?.stop()
        }
    }

    /// Shutdown: every shadow still running ends now, recorded as `incomplete`.
    func cancelAll() {
        while let ex = active.last { ex.cancel() }
        sweep?.close()
        sweep = nil
        sweeping = false
    }
}

/// One shadow call: sends the copy over the shadow pool and reads the answer whole.
final class ShadowExchange: UpstreamExchange {
    unowned let dispatcher: ShadowDispatcher
    let route: Route
    let variant: Int
    let spec: ShadowSpec
    var input: RecordInput
    var index = -1
    private(set) var deadlineNs: UInt64
    private var upstream: UpstreamConnection?
    private var capture = ResponseCapture()
    private var pool: UpstreamPool?
    private var head: [UInt8] = []
    private var body = OutgoingBody(bytes: [])
    private var retried = false
    private var done = false
    private var isHEAD = false

    init(dispatcher: ShadowDispatcher, route: Route, variant: Int, spec: ShadowSpec, request: RecordInput) {
        self.dispatcher = dispatcher
        self.route = route
        self.variant = variant
        self.spec = spec
        input = request
        input.role = .shadow
        input.variant = variant
        input.notes = ExchangeNotes()
        input.notes.startNs = Loop.hrtime()
        deadlineNs = input.notes.startNs + spec.timeoutMs * 1_000_000
        let flagCapture = route.rules.flatMap { r in route.flag.map { r.flags[$0].capture } }
        capture.reset(flagCapture, answer: true)
    }

    func send(pool: UpstreamPool, head: [UInt8], body: OutgoingBody, isHEAD: Bool) {
        self.isHEAD = isHEAD
        self.pool = pool
        self.head = head
        self.body = body
        input.upstreamAddress = pool.config.address.description
        dispatch(fresh: false)
    }

    private func dispatch(fresh: Bool) {
        guard let pool else { return }
        do {
            let u = try pool.acquire(fresh: fresh)
            upstream = u
            u.send(head: head, body: body, isHEAD: isHEAD, to: self)
        } catch {
            finish(.upstreamError)
        }
    }

    func timedOut() {
        upstream?.abandon()
        upstream = nil
        dispatcher.metrics.shadowOutcomes[2].add()
        finish(.timeout)
    }

    func cancel() {
        upstream?.abandon()
        upstream = nil
        finish(.incomplete)
    }

    func finish(_ outcome: Outcome) {
        guard !done else { return }
        done = true
        dispatcher.ended(self)
        switch outcome {
        case .ok: dispatcher.metrics.shadowOutcomes[0].add()
        case .upstreamError: dispatcher.metrics.shadowOutcomes[1].add()
        case .incomplete: dispatcher.metrics.shadowOutcomes[3].add()
        default: break
        }
        capture.finish()
        input.outcome = outcome
        input.endNs = Loop.hrtime()
        if let records = dispatcher.records {
            records.submit(dispatcher.encoder.encode(input, response: &capture))
        }
        head = []
        body = OutgoingBody(bytes: [])
    }

    // MARK: UpstreamExchange

    func upstreamHead(_ head: ResponseHead, framing: BodyFraming) {
        input.notes.status = head.status
        if framing == .chunked || framing == .untilClose { input.notes.streamed = true }
        capture.start(head)
    }

    func upstreamBody(_ bytes: UnsafeRawBufferPointer) {
        if input.notes.firstByteNs == 0 { input.notes.firstByteNs = Loop.hrtime() }
        input.notes.bytesOut += bytes.count
        capture.feed(bytes)
    }

    func upstreamFlush() {}

    func upstreamEnd() {
        upstream = nil
        finish(.ok)
    }

    func upstreamFailed(_ failure: UpstreamFailure) {
        let u = upstream
        upstream = nil
        // The same one retry as a served request: a reused connection that broke before any byte.
        if case .broken(_, false, true) = failure, !retried, let u, u.uses > 0 {
            retried = true
            dispatch(fresh: true)
            return
        }
        switch failure {
        case .connectTimeout, .headerTimeout, .idleTimeout:
            input.notes.status = input.notes.status == 0 ? 504 : input.notes.status
            dispatcher.metrics.shadowOutcomes[2].add()
            finish(.timeout)
        default:
            if input.notes.status == 0 {
                input.notes.status = 502
                finish(.upstreamError)
            } else {
                finish(.incomplete)
            }
        }
    }
}
