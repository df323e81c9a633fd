import HTTP1
import UVCore

/// How a response body is delimited towards the client.
public enum ResponseFraming: Equatable {
    /// No body. `contentLength` is repeated in the head (HEAD, 304) when known.
    case empty(contentLength: Int?)
    case length(Int)
    /// Length unknown in advance (SSE, chunked or close-delimited upstream): chunked to HTTP/1.1
    /// clients, close-delimited to HTTP/1.0 clients.
    case stream
}

/// One accepted client connection: reads requests, enforces limits and timeouts, writes responses.
///
/// Loop-confined. Requests are handled one at a time in arrival order; pipelined requests wait in
/// the input buffer (bounded by `pipelineBuffer`, after which reading pauses) until the current
/// response has ended, so responses always go out in order. A request body is read whole (bounded
/// by `--max-body`) before the handler sees the request: routing rules and mirroring need it, and
/// model requests are small.
///
/// Memory held per connection: the unparsed input (≤ head limit + pipeline buffer), the current
/// body (≤ max body), and the write queue (≤ high water + one read buffer, when the producer
/// honours `isWriteBlocked`).
public final class ServerConnection: TCPStreamDelegate {
    public let stream: TCPStream
    public let config: ServerConfig
    unowned let server: Server
    public var handler: (any ConnectionHandler)?

    enum Phase {
        case head
        case body
        case handling
        case lingering
        case closed
    }

    var phase: Phase = .head
    private var input: [UInt8] = []
    private var scanner = HeadScanner()
    private var headStorage = HeadStorage()
    private var remainingBody = 0
    private var chunked: ChunkedDecoder?
    private var timer: Deadline?
    private var processing = false
    private var needsProcessing = false

    /// The request being handled (valid from `requestReady` until the response ends).
    public private(set) var request: RequestHead?
    /// Its body, de-chunked.
    public private(set) var body: [UInt8] = []
    /// The request id: the client's `X-Request-Id` when usable, else a generated one.
    public private(set) var requestId: [UInt8] = []
    /// The client's address as text, for `X-Forwarded-For`.
    public let clientAddress: [UInt8]

    private var responseStarted = false
    private var chunkedOut = false
    private var closeAfterResponse = false
    private var responseStatus = 0
    private var bytesOut = 0
    private var requestStartNs: UInt64 = 0
    private var writeBlocked = false
    /// Allocated at the first response (an idle connection holds no head buffer).
    private var headWriter = HeadWriter(firstUse: 1024)
    /// The response head is built but not written yet: it goes out with the first body bytes, the
    /// end of the response, or `flush()`, so a small response costs one system call, not two.
    private var headPending = false
    /// `sendResponseEnd` ran for this response.
    private var endSent = false
    /// The request was HEAD: the head describes a body that is never sent.
    private var suppressBody = false

    init(stream: TCPStream, server: Server) {
        self.stream = stream
        self.server = server
        self.config = server.config
        clientAddress = Array((stream.peerAddress()?.host ?? "unknown").utf8)
        stream.delegate = self
        stream.setNoDelay()
        // Strong capture: closing the connection closes the deadline, which drops this closure.
        timer = try? Deadline(loop: stream.loop) { self.timerFired() }
        timer?.set(ms: config.headerTimeoutMs)
        stream.startReading()
    }

    public var loop: Loop { stream.loop }
    public var isClosed: Bool { phase == .closed }
    /// True while the client is not keeping up: the producer should pause until `connectionWritable`.
    public var isWriteBlocked: Bool { writeBlocked }
    /// The exchange in progress has response bytes on the wire (or queued for it): from then on
    /// a failure can only abort the connection. Before, it can still become an error response.
    public var hasCommittedResponse: Bool { responseStarted && !headPending }
    /// True when the connection is idle between requests (nothing buffered, no exchange).
    var isIdle: Bool { phase == .head && input.isEmpty && request == nil }

    // MARK: Reading

    public func streamRead(_ stream: TCPStream, _ bytes: UnsafeRawBufferPointer) {
        switch phase {
        case .lingering, .closed:
            return
        case .head:
            if input.isEmpty && request == nil {
                // First byte of a new request: the header deadline starts now.
                timer?.set(ms: config.headerTimeoutMs)
                requestStartNs = Loop.hrtime()
            }
        case .body:
            timer?.set(ms: config.bodyTimeoutMs)
        case .handling:
            break
        }
        input.append(contentsOf: bytes)
        process()
    }

    public func streamReadEnded(_ stream: TCPStream, _ error: UVError) {
        switch phase {
        case .lingering:
            finalClose()
        case .closed:
            return
        case .head where input.isEmpty:
            finalClose()
        default:
            // The client went away mid-request or while we were answering: cancel.
            finalClose()
        }
    }

    public func streamWriteCompleted(_ stream: TCPStream, _ error: UVError?) {
        if error != nil {
            if phase != .closed && phase != .lingering { finalClose() }
            return
        }
        if writeBlocked && stream.writeQueueSize <= config.writeHighWater / 2 {
            writeBlocked = false
            handler?.connectionWritable(self)
        }
    }

    public func streamShutdown(_ stream: TCPStream, _ error: UVError?) {
        guard phase == .lingering else { return }
        if error != nil {
            finalClose()
            return
        }
        // Keep reading and discarding until the client closes or the linger time is up.
        stream.startReading()
        timer?.set(ms: config.lingerMs)
    }

    /// Parses as much buffered input as the current phase allows. Re-entrant calls (a handler that
    /// answers synchronously, then the next pipelined request) are turned into loop iterations.
    private func process() {
        if processing {
            needsProcessing = true
            return
        }
        processing = true
        defer { processing = false }
        repeat {
            needsProcessing = false
            step()
        } while needsProcessing && phase != .closed && phase != .lingering
    }

    private func step() {
        switch phase {
        case .head:
            guard !input.isEmpty else { return }
            let result = input.withUnsafeBytes {
                scanner.scan($0, maxStartLine: config.limits.maxRequestLine, maxHead: config.limits.maxHead)
            }
            switch result {
            case .needMore:
                return
            case .failed(let e):
                respondError(e, close: true)
            case .complete(let start, let end):
                let parsed = input.withUnsafeBytes { p in
                    Result { () throws(HTTPError) in
                        try RequestHead.parse(
                            UnsafeRawBufferPointer(rebasing: p[start..<end]), limits: config.limits,
                            storage: &headStorage)
                    }
                }
                input.removeSubrange(0..<end)
                scanner.reset()
                switch parsed {
                case .failure(let e):
                    respondError(e, close: true)
                case .success(let head):
                    startRequest(head)
                }
            }
        case .body:
            readBody()
        case .handling:
            if input.count > config.pipelineBuffer { stream.stopReading() }
        case .lingering, .closed:
            return
        }
    }

    private func startRequest(_ head: RequestHead) {
        request = head
        if requestStartNs == 0 { requestStartNs = Loop.hrtime() }
        if let index = head.requestIdField {
            requestId.removeAll(keepingCapacity: true)
            requestId.append(contentsOf: head.bytes[head.fields[index].value])
        } else {
            server.requestIds.next(into: &requestId)
        }
        body.removeAll(keepingCapacity: body.capacity <= 1 << 20)
        switch head.framing {
        case .none, .untilClose:
            deliver()
        case .length(let n):
            remainingBody = n
            chunked = nil
            phase = .body
            if head.expectContinue && input.count < n { stream.write(Self.continueLine.rawBytes) }
            body.reserveCapacity(n)
            timer?.set(ms: config.bodyTimeoutMs)
            readBody()
        case .chunked:
            chunked = ChunkedDecoder(limits: config.limits)
            phase = .body
            if head.expectContinue && input.isEmpty { stream.write(Self.continueLine.rawBytes) }
            timer?.set(ms: config.bodyTimeoutMs)
            readBody()
        }
    }

    static let continueLine: StaticString = "HTTP/1.1 100 Continue\r\n\r\n"

    private func readBody() {
        guard !input.isEmpty else { return }
        if chunked != nil {
            let result = input.withUnsafeBytes { p in
                chunked!.decode(p) { body.append(contentsOf: $0) }
            }
            switch result {
            case .needMore:
                input.removeAll(keepingCapacity: true)
            case .done(let consumed):
                input.removeSubrange(0..<consumed)
                deliver()
            case .failed(let e):
                respondError(e, close: true)
            }
        } else {
            let take = min(remainingBody, input.count)
            body.append(contentsOf: input[0..<take])
            input.removeSubrange(0..<take)
            remainingBody -= take
            if remainingBody == 0 { deliver() }
        }
    }

    private func deliver() {
        phase = .handling
        timer?.clear()
        responseStarted = false
        responseStatus = 0
        bytesOut = 0
        closeAfterResponse = !(request?.keepAlive ?? false) || server.isDraining || server.preferClose
        if input.count > config.pipelineBuffer { stream.stopReading() }
        handler?.requestReady(self)
    }

    // MARK: Writing

    /// Builds the response head. `headers` adds end-to-end fields; framing, `Connection` and
    /// `X-Request-Id` are added here. It is sent with the first body bytes, by `endResponse`, or by
    /// `flush()` (call that when no body follows in the same loop turn, e.g. a stream's head).
    public func writeHead(
        status: Int, reason: UnsafeRawBufferPointer, framing: ResponseFraming,
        headers: (inout HeadWriter) -> Void
    ) {
        guard phase == .handling, !responseStarted else { return }
        responseStarted = true
        endSent = false
        headPending = false
        responseStatus = status
        let http10 = request?.isHTTP10 ?? true
        suppressBody = request?.isHEAD ?? false
        if server.isDraining || server.preferClose { closeAfterResponse = true }
        headWriter.reset()
        headWriter.append("HTTP/1.1 ")
        headWriter.appendDecimal(status)
        headWriter.append(" ")
        headWriter.append(reason)
        headWriter.crlf()
        headers(&headWriter)
        requestId.withUnsafeBytes { headWriter.header("X-Request-Id", $0) }
        chunkedOut = false
        switch framing {
        case .empty(let length):
            if let length {
                headWriter.append("Content-Length: ")
                headWriter.appendDecimal(length)
                headWriter.crlf()
            } else if status != 204 && status != 304 && status >= 200 {
                headWriter.append("Content-Length: 0\r\n")
            }
        case .length(let n):
            headWriter.append("Content-Length: ")
            headWriter.appendDecimal(n)
            headWriter.crlf()
        case .stream:
            if suppressBody {
                break  // no body follows, so no framing to announce
            } else if http10 {
                closeAfterResponse = true
            } else {
                chunkedOut = true
                headWriter.append("Transfer-Encoding: chunked\r\n")
            }
        }
        if closeAfterResponse {
            headWriter.append("Connection: close\r\n")
        } else if http10 {
            headWriter.append("Connection: keep-alive\r\n")
        }
        headWriter.crlf()
        headPending = true
    }

    /// Sends a pending response head now.
    public func flush() {
        guard headPending, phase == .handling else { return }
        headPending = false
        headWriter.withBytes { _ = stream.write($0) }
        noteQueued()
    }

    /// Writes body bytes (framed as a chunk when streaming to an HTTP/1.1 client).
    public func writeBody(_ bytes: UnsafeRawBufferPointer) {
        guard phase == .handling, responseStarted, !bytes.isEmpty, !suppressBody else { return }
        bytesOut += bytes.count
        let withHead = headPending
        headPending = false
        headWriter.withBytes { head in
            let head = withHead ? head : UnsafeRawBufferPointer(start: nil, count: 0)
            if chunkedOut {
                withUnsafeTemporaryAllocation(byteCount: 20, alignment: 1) { buf in
                    let n = ChunkFraming.header(bytes.count, into: buf)
                    _ = stream.write(
                        head, UnsafeRawBufferPointer(rebasing: buf[0..<n]), bytes, ChunkFraming.crlf.rawBytes)
                }
            } else {
                _ = stream.write(head, bytes)
            }
        }
        noteQueued()
    }

    private func noteQueued() {
        if !writeBlocked && stream.writeQueueSize > config.writeHighWater { writeBlocked = true }
    }

    /// Ends the response; the connection then reads the next request or closes.
    public func endResponse() {
        guard phase == .handling, responseStarted else { return }
        sendResponseEnd()
        finishExchange()
        if closeAfterResponse {
            closeGracefully()
        } else {
            phase = .head
            request = nil
            requestStartNs = 0
            if input.isEmpty {
                timer?.set(ms: config.keepAliveTimeoutMs)
            } else {
                requestStartNs = Loop.hrtime()
                timer?.set(ms: config.headerTimeoutMs)
            }
            stream.startReading()
            process()
        }
    }

    /// Puts the end of the response on the wire now (a head still held, the last chunk), so the
    /// work a handler does after an answer (records, scoring) never delays the client's last byte;
    /// `endResponse` then only ends the exchange.
    public func sendResponseEnd() {
        guard phase == .handling, responseStarted, !endSent else { return }
        endSent = true
        if headPending {
            headPending = false
            if chunkedOut { headWriter.append(ChunkFraming.last) }
            headWriter.withBytes { _ = stream.write($0) }
        } else if chunkedOut {
            stream.write(ChunkFraming.last.rawBytes)
        }
    }

    /// Aborts the exchange: the client must not mistake a partial response for a whole one, so the
    /// connection is reset (never a final chunk, never a clean FIN after a close-delimited body).
    public func abortResponse() {
        guard phase != .closed else { return }
        headPending = false
        if phase == .handling { finishExchange() }
        phase = .closed
        timer?.close()
        timer = nil
        stream.closeReset()
        notifyClosed()
        server.connectionDidClose(self)
    }

    private func finishExchange() {
        let duration = requestStartNs == 0 ? 0 : Loop.hrtime() - requestStartNs
        server.observer?.exchangeFinished(
            status: responseStatus, bytesIn: body.count, bytesOut: bytesOut, durationNs: duration)
    }

    /// Answers with a JSON error body in the shape OpenAI clients parse, logs one line, and closes
    /// when `close` is set (always after a protocol error: the stream may be out of sync).
    public func respondError(_ error: HTTPError, close: Bool) {
        respondError(
            status: error.status, code: error.code.description, message: error.message.description, close: close)
    }

    public func respondError(status: Int, code: String, message: String, close: Bool) {
        guard phase != .closed && phase != .lingering else { return }
        if responseStarted {
            if !headPending {
                abortResponse()
                return
            }
            // Only a head was built, nothing sent: replace it with the error.
            responseStarted = false
            headPending = false
            bytesOut = 0
        }
        if phase != .handling {
            // Protocol error before a request was delivered.
            phase = .handling
            if requestStartNs == 0 { requestStartNs = Loop.hrtime() }
            if requestId.isEmpty || request == nil { server.requestIds.next(into: &requestId) }
        }
        if close { closeAfterResponse = true }
        var payload: [UInt8] = []
        payload.reserveCapacity(160 + message.utf8.count)
        payload.append(contentsOf: "{\"error\":{\"message\":".utf8)
        JSONText.appendString(&payload, message.utf8)
        payload.append(contentsOf: ",\"type\":\"modelflag_error\",\"code\":".utf8)
        JSONText.appendString(&payload, code.utf8)
        payload.append(contentsOf: "}}\n".utf8)
        let rid = requestId
        Log.write(status >= 500 ? .error : .warn, "http_error") { line in
            line.field("status", status)
            line.field("code", code)
            line.field("message", message)
            rid.withUnsafeBytes { line.field("request_id", bytes: $0) }
            clientAddress.withUnsafeBytes { line.field("client", bytes: $0) }
            if let r = request {
                line.field("method", r.methodString)
                line.field("target", r.targetString)
            }
        }
        let reason = Self.reasonPhrase(status)
        writeHead(status: status, reason: reason.rawBytes, framing: .length(payload.count)) { h in
            h.append("Content-Type: application/json\r\n")
        }
        payload.withUnsafeBytes { writeBody($0) }
        endResponse()
    }

    // MARK: Closing

    /// Sends everything queued, then FIN, then drains unread input for a while (lingering close).
    public func closeGracefully() {
        guard phase != .closed && phase != .lingering else { return }
        phase = .lingering
        input = []
        timer?.clear()
        notifyClosed()
        if stream.shutdown() != nil { finalClose() }
    }

    /// Closes at once (idle connections at drain, client gone).
    public func finalClose() {
        guard phase != .closed else { return }
        phase = .closed
        timer?.close()
        timer = nil
        stream.close()
        notifyClosed()
        server.connectionDidClose(self)
    }

    private var notified = false
    private func notifyClosed() {
        guard !notified else { return }
        notified = true
        let h = handler
        handler = nil
        h?.connectionClosed(self)
    }

    private func timerFired() {
        switch phase {
        case .head:
            if input.isEmpty {
                finalClose()  // idle keep-alive, or a connection that never sent a byte
            } else {
                respondError(.headerTimeout, close: true)
            }
        case .body:
            respondError(.bodyTimeout, close: true)
        case .lingering:
            finalClose()
        case .handling, .closed:
            break
        }
    }

    /// Called by the server when it starts draining.
    func beginDrain() {
        if isIdle {
            finalClose()
        } else {
            closeAfterResponse = true
        }
    }

    public static func reasonPhrase(_ status: Int) -> StaticString {
        switch status {
        case 200: return "OK"
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 417: return "Expectation Failed"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        case 505: return "HTTP Version Not Supported"
        default: return "Unknown"
        }
    }
}
