import Glibc
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
///
/// Exchanges are pooled and own copies of what they send (head, body) and record (method, path,
/// request id): nothing of the client connection is retained, so its buffers stay reusable.
final class ShadowDispatcher {
    let loop: Loop
    let metrics: Metrics
    let records: RecordWriter?
    let stats: SegmentStats?
    private(set) var active: [ShadowExchange] = []
    private var free: [ShadowExchange] = []
    /// Evaluator calls in flight (their shadow records wait for them).
    private(set) var evaluating: [EvaluatorCall] = []
    private var sweep: Timer?
    private var sweeping = false
    /// Copies waiting for the end of the loop iteration's I/O phase (see `mirror`).
    private var staged: [ShadowExchange] = []
    private var sendCheck: Check?
    private var rng: UInt64
    /// The worker's record encoder, for served and shadow records alike: a record is encoded and
    /// handed to the writer in one call on this loop, so one buffer serves every connection
    /// (one per connection cost 4 KiB each, records on or off).
    var encoder = RecordEncoder()
    /// Buffers for scoring pairs (reused).
    let scoreScratch = ScoreScratch()
    /// Builds shadow request heads (copied into each exchange).
    var head = HeadWriter(capacity: 2048)
    static let sweepMs: UInt64 = 50
    /// Shadow streams the kernel gathers (`UpstreamConnection.batchReads`), read every `drainMs`:
    /// one timer for all of them instead of a wake-up per event of each.
    private var drain: Timer?
    private var draining = false
    static let drainMs: UInt64 = 10
    static let maxFree = 64

    init(loop: Loop, metrics: Metrics, records: RecordWriter?, stats: SegmentStats?) {
        self.loop = loop
        self.metrics = metrics
        self.records = records
        self.stats = stats
        rng = Loop.hrtime() | 1
    }

    /// xorshift64*: the random sample for `sampleBy: random` and requests without a key.
    private func random32() -> UInt32 {
        rng ^= rng >> 12
        rng ^= rng << 25
        rng ^= rng >> 27
        return UInt32(truncatingIfNeeded: (rng &* 0x2545_F491_4F6C_DD1D) >> 32)
    }

    /// Whether this request also gets a noise-floor copy (random, `noiseFloor` percent).
    func noiseFloorSampled(_ spec: ShadowSpec) -> Bool {
        spec.noiseFloor > 0 && Double(random32()) < spec.noiseFloor / 100 * 4_294_967_296
    }

    /// Whether this request is in the flag's shadow sample.
    func sampled(_ spec: ShadowSpec, bucket: UInt32?) -> Bool {
        if spec.percentage >= 100 { return true }
        if spec.percentage <= 0 { return false }
        let b = spec.sampleBy == .targetingKey ? (bucket ?? random32()) : random32()
        return Double(b) < spec.percentage / 100 * 4_294_967_296
    }

    /// A copy that waits for its served twin's first byte (`shadow.start: first-byte`): the
    /// exchange and the use it was prepared for (an exchange is reused once it ended).
    struct HeldCopy {
        let exchange: ShadowExchange
        let use: Int
    }

    /// Prepares one copy (head in `self.head`), or records it as dropped when over the caps. The
    /// copy leaves after this loop iteration's I/O, or, when `spec.start` is `first-byte`, once the
    /// caller calls `release` with what this returns. A held copy counts against the in-flight cap
    /// and its timeout starts when it is sent.
    func mirror(
        route: Route, variant: Int, spec: ShadowSpec, pool: UpstreamPool, body: OutgoingBody, isHEAD: Bool,
        request: RecordInput, pairing: Pairing?, evaluatorPool: UpstreamPool?
    ) -> HeldCopy? {
        let ex: ShadowExchange
        if let pooled = free.popLast() {
            metrics.shadowPooledBytes.add(-pooled.pooledBytes)
            ex = pooled
        } else {
            ex = ShadowExchange(dispatcher: self)
        }
        ex.prepare(route: route, variant: variant, spec: spec, request: request, pairing: pairing)
        ex.evaluatorPool = evaluatorPool
        if request.requestBody.count > spec.maxBodyBytes {
            metrics.shadowDropped[1].add()
            ex.finish(.dropped)
            return nil
        }
        if active.count >= spec.maxInFlight {
            metrics.shadowDropped[0].add()
            ex.finish(.dropped)
            return nil
        }
        metrics.shadowSent.add()
        ex.index = active.count
        active.append(ex)
        startSweep()
        head.withBytes { ex.stage(pool: pool, head: $0, body: body, isHEAD: isHEAD) }
        if spec.start == .firstByte { return HeldCopy(exchange: ex, use: ex.use) }
        schedule(ex)
        return nil
    }

    /// The served answer's first byte arrived (or its exchange ended): the held copy may leave.
    func release(_ copy: HeldCopy) {
        // Not when it ended meanwhile (drained at shutdown) or was reused for another request.
        guard copy.exchange.use == copy.use, copy.exchange.isWaiting else { return }
        schedule(copy.exchange)
    }

    /// Sent after this loop iteration's I/O callbacks: every served request that became ready in
    /// the same iteration goes upstream first (on loopback a send also runs the receiver's TCP
    /// work, so sending copies in between would delay the next client's request).
    private func schedule(_ ex: ShadowExchange) {
        staged.append(ex)
        // Strong captures, cleared by `cancelAll`: a weak reference would give the dispatcher a side
        // table, and every exchange's use of it would take the slow reference-counting path.
        if sendCheck == nil { sendCheck = try? Check(loop: loop) { self.sendStagedCopies() } }
        if let sendCheck {
            sendCheck.start()
        } else {
            sendStagedCopies()  // no check handle: send now rather than never
        }
    }

    /// The loop's check phase: send the copies staged during this iteration.
    private func sendStagedCopies() {
        let list = staged
        staged.removeAll(keepingCapacity: true)
        for ex in list { ex.sendStaged() }
        if staged.isEmpty { sendCheck?.stop() }
    }

    /// The call is over (answered, failed or cut): it no longer counts against the cap.
    func ended(_ ex: ShadowExchange) {
        if ex.index >= 0, ex.index < active.count, active[ex.index] === ex {
            let last = active.removeLast()
            if last !== ex {
                active[ex.index] = last
                last.index = ex.index
            }
        }
        ex.index = -1
    }

    /// The record is written: the exchange can be reused, its buffers trimmed to
    /// `ShadowExchange.keptBytes` first (a pooled exchange is idle memory).
    func recycle(_ ex: ShadowExchange) {
        guard free.count < ShadowDispatcher.maxFree else { return }
        ex.trimForPool()
        metrics.shadowPooledBytes.add(ex.pooledBytes)
        free.append(ex)
    }

    /// Starts an evaluator call for a completed pair, or says why not (cap reached).
    func evaluate(_ ex: ShadowExchange, spec: EvaluatorSpec, pool: UpstreamPool, body: [UInt8]) -> Bool {
        guard evaluating.count < spec.maxInFlight else {
            metrics.evaluatorCalls[2].add()
            return false
        }
        let call = EvaluatorCall(dispatcher: self, exchange: ex, timeoutMs: spec.timeoutMs)
        call.index = evaluating.count
        evaluating.append(call)
        startSweep()
        call.start(pool: pool, path: spec.path, body: body)
        return true
    }

    func evaluatorEnded(_ call: EvaluatorCall, ok: Bool) {
        metrics.evaluatorCalls[ok ? 0 : 1].add()
        guard call.index >= 0, call.index < evaluating.count, evaluating[call.index] === call else { return }
        let last = evaluating.removeLast()
        if last !== call {
            evaluating[call.index] = last
            last.index = call.index
        }
        call.index = -1
    }

    /// Whether this pair goes to the evaluator (random, `sampleRate`).
    func evaluatorSampled(_ spec: EvaluatorSpec) -> Bool {
        spec.sampleRate >= 1 || Double(random32()) < spec.sampleRate * 4_294_967_296
    }

    /// A shadow's stream is now gathered by the kernel: drain such streams until none is left.
    func streamBatched() {
        guard !draining else { return }
        if drain == nil { drain = try? Timer(loop: loop) { self.drainDue() } }
        draining = true
        drain?.start(ms: ShadowDispatcher.drainMs, repeatMs: ShadowDispatcher.drainMs)
    }

    private func drainDue() {
        // A copy: an exchange whose stream ends here leaves `active`.
        let batched = active.filter(\.isBatched)
        for ex in batched { ex.drainBatched() }
        if !active.contains(where: \.isBatched) {
            draining = false
            drain?.stop()
        }
    }

    private func startSweep() {
        guard !sweeping else { return }
        if sweep == nil { sweep = try? Timer(loop: loop) { self.sweepDue() } }
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
        var j = 0
        while j < evaluating.count {
            if now >= evaluating[j].deadlineNs {
                evaluating[j].timedOut()  // removes itself
            } else {
                j += 1
            }
        }
        if active.isEmpty && evaluating.isEmpty {
            sweeping = false
            sweep?.stop()
        }
    }

    /// Shutdown: every shadow still running ends now, recorded as `incomplete`.
    func cancelAll() {
        staged.removeAll()
        sendCheck?.close()
        sendCheck = nil
        while let ex = active.last { ex.cancel() }
        while let call = evaluating.last { call.timedOut() }
        for ex in free { metrics.shadowPooledBytes.add(-ex.pooledBytes) }
        free.removeAll()
        sweep?.close()
        sweep = nil
        sweeping = false
        drain?.close()
        drain = nil
        draining = false
    }
}

/// A served request and its shadow copies. A shadow's record (and its scores) is written only
/// once the served exchange ended, so shadow work never runs ahead of the client's answer: a
/// shadow that ends first waits here (its record unwritten) until the served exchange ends, which
/// it always does (answer, error, cancel or drain). Bounded by the requests in flight.
final class Pairing {
    private(set) var ended = false
    /// The served answer, when the flag compares (`shadow.compare`).
    private(set) var served: AnswerSummary?
    private var waiting: [ShadowExchange] = []

    func park(_ ex: ShadowExchange) { waiting.append(ex) }

    func servedEnded(_ summary: AnswerSummary?) {
        ended = true
        served = summary
        let list = waiting
        waiting = []
        for ex in list { ex.complete() }
    }
}

/// One shadow call: sends the copy over the shadow pool and reads the answer whole.
/// Reused through the dispatcher's free list; `prepare` starts each use.
final class ShadowExchange: UpstreamExchange {
    /// Strong (the worker's dispatcher outlives its exchanges; `unowned` cost an atomic check per use).
    let dispatcher: ShadowDispatcher
    private var route: Route?
    private var variant = 0
    var index = -1
    private(set) var deadlineNs: UInt64 = 0
    private var timeoutNs: UInt64 = 0
    /// Counts the uses of this pooled exchange (a held copy names the use it belongs to).
    private(set) var use = 0
    private var upstream: UpstreamConnection?
    private var capture = ResponseCapture()
    private var pool: UpstreamPool?
    private var notes = ExchangeNotes()
    // Owned copies (capacity kept across uses).
    private var head: [UInt8] = []
    private var body: [UInt8] = []
    private var splice: (range: Range<Int>, replacement: [UInt8])?
    private var requestId: [UInt8] = []
    private var method: [UInt8] = []
    private var path: [UInt8] = []
    private var retried = false
    private var done = true
    /// Staged by `mirror`, waiting for the dispatcher's check to send it.
    private var staged = false
    private var isHEAD = false
    private var pairing: Pairing?
    /// Where the flag's evaluator listens (when it has one).
    var evaluatorPool: UpstreamPool?
    private var scores: PairScores?
    private var outcome: Outcome = .ok
    private var endNs: UInt64 = 0

    init(dispatcher: ShadowDispatcher) {
        self.dispatcher = dispatcher
    }

    /// Most buffer bytes an idle pooled exchange keeps. A mirrored body may be as large as the
    /// shadow's `maxBodyBytes` (1 MiB by default) and the free list holds up to
    /// `ShadowDispatcher.maxFree`: without a bound, one burst of large bodies would stay resident.
    static let keptBytes = 64 * 1024
    /// What `trimForPool` left, as counted into `modelflag_shadow_pooled_bytes`.
    private(set) var pooledBytes = 0

    private var retainedBytes: Int {
        head.capacity + body.capacity + requestId.capacity + method.capacity + path.capacity
            + capture.retainedBytes
    }

    /// Before the exchange goes idle into the free list: buffers over `keptBytes` are given back.
    func trimForPool() {
        if retainedBytes > ShadowExchange.keptBytes {
            head = []
            body = []
            capture = ResponseCapture()
        }
        pooledBytes = retainedBytes
    }

    func prepare(route: Route, variant: Int, spec: ShadowSpec, request: RecordInput, pairing: Pairing?) {
        self.route = route
        self.pairing = pairing
        self.variant = variant
        use &+= 1
        done = false
        retried = false
        upstream = nil
        notes = ExchangeNotes()
        notes.startNs = Loop.hrtime()
        timeoutNs = spec.timeoutMs * 1_000_000
        // No deadline until it is sent: a copy held for its twin's first byte is not timed out by a
        // primary that thinks long (it is bounded by the in-flight cap instead).
        deadlineNs = .max
        body.removeAll(keepingCapacity: true)
        body.append(contentsOf: request.requestBody)
        if dispatcher.records != nil {
            requestId.removeAll(keepingCapacity: true)
            requestId.append(contentsOf: request.requestId)
            method.removeAll(keepingCapacity: true)
            method.append(contentsOf: request.method)
            path.removeAll(keepingCapacity: true)
            path.append(contentsOf: request.path)
            let flagCapture = route.rules.flatMap { r in route.flag.map { r.flags[$0].capture } }
            capture.reset(flagCapture, answer: true)
        }
    }

    /// Copies what the shadow request needs; it goes out at `sendStaged()`.
    func stage(pool: UpstreamPool, head: UnsafeRawBufferPointer, body: OutgoingBody, isHEAD: Bool) {
        self.isHEAD = isHEAD
        self.pool = pool
        self.head.removeAll(keepingCapacity: true)
        self.head.append(contentsOf: head)
        splice = body.splice
        staged = true
    }

    /// Staged and not yet sent, nor ended.
    var isWaiting: Bool { staged && !done }

    /// Sends the staged copy (once: a cut or recycled exchange is no longer staged). The shadow's
    /// latency and timeout count from here.
    func sendStaged() {
        guard staged else { return }
        staged = false
        notes.startNs = Loop.hrtime()
        deadlineNs = notes.startNs + timeoutNs
        dispatch(fresh: false)
    }

    private func dispatch(fresh: Bool) {
        guard let pool else { return }
        do {
            let u = try pool.acquire(fresh: fresh)
            upstream = u
            // A local reference: a synchronous failure ends (and may reset) this exchange.
            let h = head
            h.withUnsafeBytes {
                u.send(head: $0, body: OutgoingBody(bytes: body, splice: splice), isHEAD: isHEAD, to: self)
            }
        } catch {
            notes.status = 502
            finish(.upstreamError)
        }
    }

    func timedOut() {
        staged = false
        upstream?.abandon()
        upstream = nil
        if notes.status == 0 { notes.status = 504 }
        finish(.timeout)
    }

    func cancel() {
        staged = false
        upstream?.abandon()
        upstream = nil
        finish(.incomplete)
    }

    func finish(_ outcome: Outcome) {
        guard !done else { return }
        done = true
        let m = dispatcher.metrics
        switch outcome {
        case .ok: m.shadowOutcomes[0].add()
        case .upstreamError: m.shadowOutcomes[1].add()
        case .timeout: m.shadowOutcomes[2].add()
        case .incomplete: m.shadowOutcomes[3].add()
        default: break
        }
        self.outcome = outcome
        endNs = Loop.hrtime()
        dispatcher.ended(self)
        guard dispatcher.records != nil else {
            reset()
            return
        }
        capture.finish()
        // The served exchange goes first (and an answer is scored against it): wait for its end.
        if let pairing, !pairing.ended {
            pairing.park(self)
            return
        }
        complete()
    }

    /// Writes the shadow record, with the pair's scores when both sides answered.
    func complete() {
        scores = nil
        if outcome == .ok, let served = pairing?.served, served.outcome == .ok {
            // The router's scan knows whether `response_format` is a top-level key; without it,
            // a search of the body (which a message mentioning the name also satisfies).
            let wantsJSON =
                route?.asksForJSON ?? body.withUnsafeBytes { ShadowExchange.contains($0, "\"response_format\"") }
            scores = PairScores(
                served: served, shadow: summary(), wantsJSON: wantsJSON, scratch: dispatcher.scoreScratch)
            // A sampled pair also goes to the flag's evaluator; the record waits for its answer.
            if let route, let rules = route.rules, let fi = route.flag, let spec = rules.flags[fi].evaluator,
                let evalPool = evaluatorPool, dispatcher.records != nil, dispatcher.evaluatorSampled(spec)
            {
                if dispatcher.evaluate(self, spec: spec, pool: evalPool, body: evaluatorBody(served)) { return }
                writeRecord(.failed("in_flight_cap"))
                return
            }
        }
        writeRecord(nil)
    }

    /// The evaluator answered (or failed): the record can be written.
    func evaluated(_ result: EvaluatorResult) { writeRecord(result) }

    private func evaluatorBody(_ served: AnswerSummary) -> [UInt8] {
        var b: [UInt8] = []
        b.append(contentsOf: "{\"request_id\":".utf8)
        JSONText.appendString(&b, requestId)
        if let route, let rules = route.rules, let fi = route.flag {
            let flag = rules.flags[fi]
            b.append(contentsOf: ",\"flag\":".utf8)
            JSONText.appendString(&b, flag.key.utf8)
            b.append(contentsOf: ",\"segments\":".utf8)
            RecordEncoder.appendSegments(&b, rules.literals.segments[fi], route.segments)
            b.append(contentsOf: ",\"variants\":{\"served\":".utf8)
            JSONText.appendString(&b, flag.variants[route.variant].name.utf8)
            b.append(contentsOf: ",\"shadow\":".utf8)
            JSONText.appendString(&b, flag.variants[variant].name.utf8)
            b.append(UInt8(ascii: "}"))
        }
        b.append(contentsOf: ",\"request\":".utf8)
        body.withUnsafeBytes { _ = CaptureText.appendString(&b, $0, cap: 256 * 1024) }
        b.append(contentsOf: ",\"served\":{\"status\":\(served.status),\"text\":".utf8)
        served.text.withUnsafeBytes { _ = CaptureText.appendString(&b, $0, cap: 256 * 1024) }
        b.append(contentsOf: "},\"shadow\":{\"status\":\(notes.status),\"text\":".utf8)
        capture.answer.text.withUnsafeBytes { _ = CaptureText.appendString(&b, $0, cap: 256 * 1024) }
        b.append(contentsOf: "}}".utf8)
        return b
    }

    private func writeRecord(_ evaluation: EvaluatorResult?) {
        if let records = dispatcher.records {
            var input = RecordInput(
                role: .shadow, requestId: requestId, method: method[...], path: path[...], route: route,
                variant: variant, upstreamAddress: pool?.config.address, notes: notes,
                outcome: outcome, requestBody: body, endNs: endNs)
            input.evaluation = evaluation
            dispatcher.encoder.write(input, response: &capture, scores: scores, to: records)
        }
        if let stats = dispatcher.stats, outcome != .dropped, let route,
            var event = SegmentStats.event(
                route: route, variant: variant, role: "shadow", outcome: outcome, notes: notes, endNs: endNs,
                scores: scores)
        {
            if case .scores(let list) = evaluation { event.evaluator = list }
            stats.observe(event)
        }
        reset()
    }

    private func reset() {
        route = nil
        pool = nil
        pairing = nil
        evaluatorPool = nil
        scores = nil
        dispatcher.recycle(self)
    }

    /// This side of the pair, for scoring.
    private func summary() -> AnswerSummary {
        AnswerSummary(notes: notes, outcome: outcome, capture: capture, endNs: endNs)
    }

    static func contains(_ p: UnsafeRawBufferPointer, _ s: StaticString) -> Bool {
        ByteSearch.find(s, in: p) != nil
    }

    // MARK: UpstreamExchange

    func upstreamHead(_ head: ResponseHead, framing: BodyFraming) {
        notes.status = head.status
        if framing == .chunked || framing == .untilClose { notes.streamed = true }
        if dispatcher.records != nil { capture.start(head) }
    }

    func upstreamBody(_ bytes: UnsafeRawBufferPointer) {
        if notes.firstByteNs == 0 {
            notes.firstByteNs = Loop.hrtime()
            // Time to first event is measured; the rest of a stream is read in batches (its end
            // is then seen within `drainMs`), so a shadow's events do not wake the loop one by one.
            if notes.streamed, upstream?.batchReads() == true { dispatcher.streamBatched() }
        }
        notes.bytesOut += bytes.count
        if dispatcher.records != nil { capture.feed(bytes) }
    }

    func upstreamFlush() {}

    /// Whether the kernel gathers this shadow's stream for the dispatcher to drain.
    var isBatched: Bool { upstream?.batched ?? false }

    func drainBatched() { upstream?.drainBatched() }

    func upstreamEnd() {
        upstream = nil
        finish(.ok)
    }

    func upstreamFailed(_ failure: UpstreamFailure) {
        let u = upstream
        upstream = nil
        if failure.allowsRetry(of: u, alreadyRetried: retried) {
            retried = true
            dispatch(fresh: true)
            return
        }
        let (status, outcome) = failure.recorded(status: notes.status)
        notes.status = status
        finish(outcome)
    }
}
