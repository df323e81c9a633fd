import HTTP1
import UVCore

/// Why an upstream exchange failed, with what the forwarder needs to decide a retry and a status.
public enum UpstreamFailure: Sendable {
    case connect(UVError)
    case connectTimeout
    /// The connection broke. `headReceived` tells whether the client already has a response head;
    /// `nothingWritten` whether not one byte of the request reached the kernel.
    case broken(UVError, headReceived: Bool, nothingWritten: Bool)
    case badResponse(HTTPError)
    case headerTimeout
    case idleTimeout

    /// What a record says of this failure, given the status received so far (0: no response
    /// head): a timeout is 504 `timeout`; otherwise 502 `upstream_error` before a head, and the
    /// head's status with `incomplete` after one.
    func recorded(status: Int) -> (status: Int, outcome: Outcome) {
        switch self {
        case .connectTimeout, .headerTimeout, .idleTimeout: return (status == 0 ? 504 : status, .timeout)
        default: return status == 0 ? (502, .upstreamError) : (status, .incomplete)
        }
    }

    /// The one retry: a reused connection (`uses > 0`) broke before any byte of the request was
    /// written, so the server cannot have seen it (it closed an idle connection we just took).
    func allowsRetry(of connection: UpstreamConnection?, alreadyRetried: Bool) -> Bool {
        guard case .broken(_, false, true) = self, !alreadyRetried, let connection else { return false }
        return connection.uses > 0
    }

    public var kind: UpstreamErrorKind {
        switch self {
        case .connect: return .connectRefused
        case .connectTimeout: return .connectTimeout
        case .broken: return .reset
        case .badResponse: return .badResponse
        case .headerTimeout: return .headerTimeout
        case .idleTimeout: return .idleTimeout
        }
    }
}

/// A request body as sent upstream: the client's bytes, optionally with one range replaced (the
/// `"model"` rewrite), sent as slices so nothing is copied.
struct OutgoingBody {
    var bytes: [UInt8]
    var splice: (range: Range<Int>, replacement: [UInt8])?

    var count: Int { bytes.count - (splice?.range.count ?? 0) + (splice?.replacement.count ?? 0) }
}

/// Who receives one response from an upstream connection (the forwarder of a client exchange).
public protocol UpstreamExchange: AnyObject {
    func upstreamHead(_ head: ResponseHead, framing: BodyFraming)
    /// Body bytes (de-chunked), valid only during the call.
    func upstreamBody(_ bytes: UnsafeRawBufferPointer)
    /// The bytes of this read have all been passed on (send what is pending, e.g. a head).
    func upstreamFlush()
    /// The response ended; the connection already went back to the pool (or closed).
    func upstreamEnd()
    func upstreamFailed(_ failure: UpstreamFailure)
}

/// One TCP connection to the model server, reused across requests through `UpstreamPool`.
///
/// Loop-confined. It writes one request, parses the response head strictly (a malformed one is
/// a 502 and the connection is never reused), forwards the body as it arrives, and returns itself
/// to the pool only when the response ended cleanly with nothing left over.
public final class UpstreamConnection: TCPStreamDelegate {
    enum State {
        case connecting
        case idle
        case awaitingHead
        case body
        case closed
    }

    let stream: TCPStream
    unowned let pool: UpstreamPool
    var state: State = .connecting
    /// Requests completed on this connection (0 = fresh).
    public private(set) var uses = 0
    /// Strong while a response is owed (a weak reference would give every forwarder a side table
    /// and put all its retains on the slow path); every way out of an exchange clears it.
    var exchange: (any UpstreamExchange)?
    private var timer: Deadline?
    private var input: [UInt8] = []
    private var scanner = HeadScanner()
    private var headStorage = HeadStorage()
    private var leftover: [UInt8] = []
    private var framing: BodyFraming = .none
    private var remaining = 0
    private var decoder: ChunkedDecoder?
    private var chunkScratch: [UInt8] = []
    private var requestWasHEAD = false
    private var keepAlive = true
    private var pendingHead: [UInt8] = []
    private var pendingBody = OutgoingBody(bytes: [])
    private var hasPending = false
    private var wroteSomething = false
    private var paused = false
    /// The kernel holds this response's bytes until `batchLowWater` of them are buffered (see
    /// `batchReads`); reset before the connection serves another response.
    private(set) var batched = false
    /// A shadow's stream is woken for every 16 KiB, or drained by its dispatcher's timer.
    static let batchLowWater = 16 * 1024

    init(pool: UpstreamPool) throws(UVError) {
        self.pool = pool
        stream = try TCPStream(loop: pool.loop)
        stream.delegate = self
        stream.setNoDelay()
        // Strong capture: `close()` closes the deadline, which drops this closure (no cycle left).
        timer = try? Deadline(loop: pool.loop) { self.timerFired() }
        if let e = stream.connect(to: pool.config.address) {
            state = .closed
            stream.close()
            timer?.close()
            throw e
        }
        timer?.set(ms: pool.config.connectTimeoutMs)
    }

    /// Sends a request: now when connected, or once the connection is up (a copy of `head` waits
    /// until then). `head` is read only by the write (or that copy); a synchronous failure reaches
    /// the exchange after it, so the exchange may rebuild the buffer `head` points into.
    func send(head: UnsafeRawBufferPointer, body: OutgoingBody, isHEAD: Bool, to exchange: any UpstreamExchange) {
        self.exchange = exchange
        requestWasHEAD = isHEAD
        wroteSomething = false
        scanner.reset()
        input.removeAll(keepingCapacity: true)
        if state == .connecting {
            pendingHead.removeAll(keepingCapacity: true)
            pendingHead.append(contentsOf: head)
            pendingBody = body
            hasPending = true
            return
        }
        write(head: head, body: body)
    }

    private func write(head: UnsafeRawBufferPointer, body: OutgoingBody) {
        state = .awaitingHead
        timer?.set(ms: pool.config.headerTimeoutMs)
        stream.startReading()
        let error = body.bytes.withUnsafeBytes { b in
            guard let splice = body.splice else { return stream.write(head, b) }
            return splice.replacement.withUnsafeBytes { r in
                stream.write(
                    head, UnsafeRawBufferPointer(rebasing: b[0..<splice.range.lowerBound]), r,
                    UnsafeRawBufferPointer(rebasing: b[splice.range.upperBound...]))
            }
        }
        if let error {
            fail(.broken(error, headReceived: false, nothingWritten: true))
            return
        }
        wroteSomething = true
    }

    // MARK: TCPStreamDelegate

    public func streamConnected(_ stream: TCPStream, _ error: UVError?) {
        guard state == .connecting else { return }
        if let error {
            fail(.connect(error))
            return
        }
        if hasPending {
            hasPending = false
            let h = pendingHead
            let b = pendingBody
            pendingHead = []
            pendingBody = OutgoingBody(bytes: [])
            h.withUnsafeBytes { write(head: $0, body: b) }
        } else {
            state = .idle
        }
    }

    public func streamWriteCompleted(_ stream: TCPStream, _ error: UVError?) {
        if let error, state == .awaitingHead || state == .body {
            fail(.broken(error, headReceived: state == .body, nothingWritten: false))
        }
    }

    public func streamRead(_ stream: TCPStream, _ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .idle, .connecting, .closed:
            // Bytes nobody asked for: the connection is out of sync. Never reuse it.
            close()
        case .awaitingHead:
            input.append(contentsOf: bytes)
            parseHead()
        case .body:
            timer?.set(ms: pool.config.idleTimeoutMs)
            forward(bytes)
        }
    }

    public func streamReadEnded(_ stream: TCPStream, _ error: UVError) {
        switch state {
        case .body where framing == .untilClose && error == .eof:
            keepAlive = false
            finishResponse()
        case .awaitingHead:
            fail(.broken(error, headReceived: false, nothingWritten: !wroteSomething))
        case .body:
            fail(.broken(error, headReceived: true, nothingWritten: false))
        default:
            close()
        }
    }

    // MARK: Response

    private func parseHead() {
        while state == .awaitingHead {
            let result = input.withUnsafeBytes {
                scanner.scan(
                    $0, maxStartLine: pool.config.limits.maxRequestLine, maxHead: pool.config.limits.maxHead,
                    startLineError: .headersTooLarge, headError: .headersTooLarge)
            }
            switch result {
            case .needMore:
                return
            case .failed(let e):
                fail(.badResponse(e))
                return
            case .complete(let start, let end):
                let parsed = input.withUnsafeBytes { p in
                    Result { () throws(HTTPError) in
                        try ResponseHead.parse(
                            UnsafeRawBufferPointer(rebasing: p[start..<end]), limits: pool.config.limits,
                            storage: &headStorage)
                    }
                }
                input.removeSubrange(0..<end)
                scanner.reset()
                guard case .success(let head) = parsed else {
                    if case .failure(let e) = parsed { fail(.badResponse(e)) }
                    return
                }
                if head.status >= 100 && head.status < 200 {
                    if head.status == 101 {
                        fail(.badResponse(.badRequestLine))
                        return
                    }
                    continue  // interim response (100, 103): skip, the final one follows
                }
                startBody(head)
            }
        }
    }

    private func startBody(_ head: ResponseHead) {
        state = .body
        keepAlive = head.keepAlive
        framing = head.framing(requestWasHEAD: requestWasHEAD)
        switch framing {
        case .length(let n): remaining = n
        case .chunked: decoder = ChunkedDecoder(maxBody: Int.max)
        default: break
        }
        timer?.set(ms: pool.config.idleTimeoutMs)
        exchange?.upstreamHead(head, framing: framing)
        guard state == .body else { return }  // the exchange may have abandoned us
        if framing == .none {
            finishResponse()
            return
        }
        if !input.isEmpty {
            // Body bytes that came with the head: swap buffers instead of copying.
            swap(&input, &leftover)
            leftover.withUnsafeBytes { forward($0) }
            leftover.removeAll(keepingCapacity: true)
        }
        // A head whose body has not started yet (a stream) goes out now, not with the first event.
        exchange?.upstreamFlush()
    }

    private func forward(_ bytes: UnsafeRawBufferPointer) {
        switch framing {
        case .length:
            let take = min(remaining, bytes.count)
            remaining -= take
            if take > 0 { exchange?.upstreamBody(UnsafeRawBufferPointer(rebasing: bytes[0..<take])) }
            if remaining == 0 {
                if take < bytes.count { keepAlive = false }  // extra bytes: out of sync
                finishResponse()
            }
        case .untilClose:
            exchange?.upstreamBody(bytes)
        case .chunked:
            chunkScratch.removeAll(keepingCapacity: true)
            let result = decoder!.decode(bytes) { chunkScratch.append(contentsOf: $0) }
            if !chunkScratch.isEmpty {
                chunkScratch.withUnsafeBytes { exchange?.upstreamBody($0) }
                guard state == .body else { return }
            }
            switch result {
            case .needMore:
                break
            case .done(let consumed):
                if consumed < bytes.count { keepAlive = false }
                finishResponse()
            case .failed(let e):
                fail(.badResponse(e))
            }
        case .none:
            keepAlive = false
            finishResponse()
        }
    }

    private func finishResponse() {
        guard state == .body else { return }
        let ex = exchange
        exchange = nil
        uses += 1
        decoder = nil
        if batched {
            batched = false
            // The next response's head must wake the loop at once; a socket that refuses is not reused.
            if !stream.setReceiveLowWater(1) { keepAlive = false }
        }
        if keepAlive && !paused {
            pool.release(self)
        } else {
            close()
        }
        ex?.upstreamEnd()
    }

    private func fail(_ failure: UpstreamFailure) {
        let ex = exchange
        exchange = nil
        close()
        ex?.upstreamFailed(failure)
    }

    // MARK: Control from the forwarder and the pool

    /// Backpressure: stop reading while the client is slow.
    func pauseReading() {
        paused = true
        stream.stopReading()
    }

    func resumeReading() {
        paused = false
        if state == .body { stream.startReading() }
    }

    /// For the rest of this response, lets the kernel gather the body instead of waking the loop
    /// for each event (a shadow's stream: nobody waits on it event by event). The owner calls
    /// `drainBatched()` at an interval for what stays below the mark; the end of the stream is
    /// then noticed within that interval. False when the socket refused.
    func batchReads() -> Bool {
        guard state == .body, !batched else { return batched }
        batched = stream.setReceiveLowWater(UpstreamConnection.batchLowWater)
        return batched
    }

    /// Reads what the kernel gathered for a batched response.
    func drainBatched() {
        if batched && state == .body { stream.readAvailable() }
    }

    /// Parks the connection in the pool: keep reading so a close by the server is noticed.
    func parkIdle() {
        state = .idle
        paused = false
        stream.startReading()
        timer?.set(ms: pool.config.poolIdleTimeoutMs)
    }

    /// The exchange gave up (client gone): the response is unfinished, so the connection cannot be reused.
    func abandon() {
        exchange = nil
        close()
    }

    func close() {
        guard state != .closed else { return }
        let wasIdle = state == .idle
        state = .closed
        exchange = nil
        timer?.close()
        timer = nil
        stream.close()
        pool.connectionClosed(self, wasIdle: wasIdle)
    }

    private func timerFired() {
        switch state {
        case .connecting: fail(.connectTimeout)
        case .awaitingHead: fail(.headerTimeout)
        case .body: fail(.idleTimeout)
        case .idle: close()
        case .closed: break
        }
    }
}
