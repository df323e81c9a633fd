import Glibc
import HTTP1
import HTTPServer
import UVCore

/// One connection of the stand-in model: an OpenAI-compatible fake on the same libuv core.
///
/// `POST /v1/chat/completions` answers JSON, or SSE when the body has `"stream": true`;
/// `GET /v1/models` lists the model; `GET /healthz` answers ok. With `--faults`, the
/// `X-StandIn-Fault` header makes it misbehave on purpose (for the proxy's fault tests):
/// `reset`, `hang`, `malformed`, `bare-lf`, `huge-headers`, `bad-chunk`, `close-mid-stream`, `delay=MS`,
/// `flood=MiB`.
public final class StandInHandler: ConnectionHandler {
    let options: StandInOptions
    private var timer: Timer?
    private var pendingWords: [String] = []
    private var streamIndex = 0
    private var streamId = ""
    private var breakMidStream = false

    /// The confidence this request's answer reports (lowered by `degrade`).
    private var currentConfidence = 0.9

    public init(options: StandInOptions) {
        self.options = options
        currentConfidence = options.confidence
    }

    public func requestReady(_ conn: ServerConnection) {
        guard let request = conn.request else { return }
        let path = request.targetString.split(separator: "?", maxSplits: 1).first.map(String.init) ?? ""
        let method = request.methodString
        var latency = options.latencyMs
        breakMidStream = false
        if options.faults, let fault = request.value(of: "x-standin-fault") {
            if fault.hasPrefix("delay=") {
                latency = UInt64(fault.dropFirst(6)) ?? latency
            } else if fault == "close-mid-stream" {
                breakMidStream = true
            } else if fault == "hang" {
                return  // never answer
            } else if fault.hasPrefix("flood=") {
                startFlood(conn, mebibytes: Int(fault.dropFirst(6)) ?? 1)
                return
            } else {
                injectFault(fault, conn)
                return
            }
        }
        switch (method, path) {
        case ("POST", "/v1/evaluate"):
            send(conn, 200, "application/json", Content.evaluate(conn.body))
        case ("POST", "/v1/chat/completions"):
            if options.errorRate > 0 && Double.random(in: 0..<1) < options.errorRate {
                after(latency, on: conn) {
                    conn.respondError(
                        status: 500, code: "injected_error", message: "stand-in model: injected error (--error-rate)",
                        close: false)
                }
                return
            }
            let stream = Content.wantsStream(conn.body)
            let seed = Content.seed(conn.body, model: options.wordsOf ?? options.model)
            var words = Content.words(seed: seed, count: 12 + Int(seed % 20))
            currentConfidence = options.confidence
            if let d = options.degrade.first(where: { Content.contains(conn.body, $0.pattern) }) {
                words = Content.degrade(words, seed: seed, share: d.share)
                currentConfidence *= 1 - d.share
            }
            let id = "chatcmpl-" + String(seed, radix: 16)
            let promptTokens = max(1, conn.body.count / 4)
            let echo = Echo(
                requestedModel: Content.requestedModel(conn.body), bodyHash: Content.fnv64Hex(conn.body),
                shadow: request.value(of: "x-modelflag-shadow") == "1")
            after(latency, on: conn) { [self] in
                if stream {
                    startStream(conn, id: id, words: words)
                } else {
                    respondJSON(conn, id: id, words: words, promptTokens: promptTokens, echo: echo)
                }
            }
        case ("GET", "/v1/models"):
            let body =
                "{\"object\":\"list\",\"data\":[{\"id\":\"\(options.model)\",\"object\":\"model\",\"owned_by\":\"modelflag-stand-in\"}]}\n"
            send(conn, 200, "application/json", body)
        case ("GET", "/healthz"), ("HEAD", "/healthz"):
            send(conn, 200, "application/json", "{\"status\":\"ok\"}\n")
        default:
            conn.respondError(
                status: 404, code: "not_found",
                message: "stand-in model: try POST /v1/chat/completions or GET /v1/models", close: false)
        }
    }

    private func after(_ ms: UInt64, on conn: ServerConnection, _ body: @escaping () -> Void) {
        if ms == 0 {
            body()
            return
        }
        timer?.close()
        timer = try? Timer(loop: conn.loop) { body() }
        timer?.start(ms: ms)
    }

    /// What a JSON answer reports about the request it got, so tests can check what the proxy sent:
    /// the `"model"` it asked for, an FNV-1a hash of the body bytes, and whether it was a shadow copy.
    struct Echo {
        var requestedModel: String?
        var bodyHash: String
        var shadow: Bool
    }

    private func respondJSON(_ conn: ServerConnection, id: String, words: [String], promptTokens: Int, echo: Echo) {
        let text = words.joined(separator: " ")
        let created = Int(time(nil))
        let body =
            "{\"id\":\"\(id)\",\"object\":\"chat.completion\",\"created\":\(created),\"model\":\"\(options.model)\","
            + "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"\(text)\"},\"finish_reason\":\"stop\"}],"
            + "\"usage\":{\"prompt_tokens\":\(promptTokens),\"completion_tokens\":\(words.count),\"total_tokens\":\(promptTokens + words.count)},"
            + "\"confidence\":\(currentConfidence)"
            + (echo.requestedModel.map { ",\"requested_model\":\"\($0)\"" } ?? "")
            + ",\"request_hash\":\"\(echo.bodyHash)\",\"shadow\":\(echo.shadow)}\n"
        send(conn, 200, "application/json", body)
    }

    private func startStream(_ conn: ServerConnection, id: String, words: [String]) {
        let confidence = String(currentConfidence)
        conn.writeHead(status: 200, reason: ("OK" as StaticString).rawBytes, framing: .stream) { h in
            h.append("Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n")
            h.append("X-Model-Confidence: ")
            h.appendString(confidence)
            h.crlf()
        }
        // Spread the words over the configured number of events.
        let n = max(1, options.streamEvents)
        var chunks: [String] = []
        for i in 0..<n {
            let lo = i * words.count / n
            let hi = (i + 1) * words.count / n
            chunks.append(words[lo..<hi].joined(separator: " ") + (i == n - 1 ? "" : " "))
        }
        pendingWords = chunks
        streamIndex = 0
        streamId = id
        timer?.close()
        timer = try? Timer(loop: conn.loop) { [weak self, weak conn] in
            guard let self, let conn else { return }
            self.nextEvent(conn)
        }
        nextEvent(conn)
    }

    private func nextEvent(_ conn: ServerConnection) {
        if conn.isClosed { return }
        if breakMidStream && streamIndex == 2 {
            conn.stream.closeReset()
            conn.abortResponse()
            return
        }
        var event: String
        if streamIndex < pendingWords.count {
            event =
                "data: {\"id\":\"\(streamId)\",\"object\":\"chat.completion.chunk\",\"model\":\"\(options.model)\","
                + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\(pendingWords[streamIndex])\"},\"finish_reason\":null}]"
                // The first event says the confidence too (what `first-event` gating reads).
                + (streamIndex == 0 ? ",\"confidence\":\(currentConfidence)}\n\n" : "}\n\n")
        } else {
            event =
                "data: {\"id\":\"\(streamId)\",\"object\":\"chat.completion.chunk\",\"model\":\"\(options.model)\","
                + "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"confidence\":\(currentConfidence)}\n\ndata: [DONE]\n\n"
        }
        event.withUTF8 { conn.writeBody(UnsafeRawBufferPointer($0)) }
        if streamIndex >= pendingWords.count {
            timer?.stop()
            conn.endResponse()
            return
        }
        streamIndex += 1
        timer?.start(ms: options.streamIntervalMs)
    }

    private func send(_ conn: ServerConnection, _ status: Int, _ type: String, _ body: String) {
        var payload = body
        let confidence = String(currentConfidence)
        payload.withUTF8 { b in
            conn.writeHead(
                status: status, reason: ServerConnection.reasonPhrase(status).rawBytes, framing: .length(b.count)
            ) { h in
                h.append("Content-Type: ")
                h.appendString(type)
                h.crlf()
                h.append("X-Model-Confidence: ")
                h.appendString(confidence)
                h.crlf()
            }
            conn.writeBody(UnsafeRawBufferPointer(b))
        }
        conn.endResponse()
    }

    private func injectFault(_ fault: String, _ conn: ServerConnection) {
        let raw: String
        switch fault {
        case "reset":
            conn.abortResponse()
            return
        case "malformed":
            raw = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        case "bare-lf":
            raw = "HTTP/1.1 200 OK\nContent-Length: 2\n\nok"
        case "huge-headers":
            raw =
                "HTTP/1.1 200 OK\r\nX-Big: " + String(repeating: "a", count: 70_000) + "\r\nContent-Length: 2\r\n\r\nok"
        case "bad-chunk":
            raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
        default:
            conn.respondError(status: 400, code: "unknown_fault", message: "unknown X-StandIn-Fault", close: false)
            return
        }
        conn.stream.write(Array(raw.utf8))
        conn.closeGracefully()
    }

    /// Streams `mebibytes` of SSE data as fast as the client takes it (honouring backpressure).
    private func startFlood(_ conn: ServerConnection, mebibytes: Int) {
        floodRemaining = mebibytes << 20
        conn.writeHead(status: 200, reason: ("OK" as StaticString).rawBytes, framing: .stream) { h in
            h.append("Content-Type: text/event-stream\r\n")
        }
        continueFlood(conn)
    }

    private var floodRemaining = 0
    private static let floodBlock: [UInt8] =
        Array("data: ".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 65_528) + [0x0A, 0x0A]

    private func continueFlood(_ conn: ServerConnection) {
        while floodRemaining > 0 && !conn.isWriteBlocked && !conn.isClosed {
            let n = min(floodRemaining, Self.floodBlock.count)
            Self.floodBlock.withUnsafeBytes { conn.writeBody(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            floodRemaining -= n
        }
        if floodRemaining == 0 && !conn.isClosed {
            floodRemaining = -1
            conn.endResponse()
        }
    }

    public func connectionWritable(_ conn: ServerConnection) {
        if floodRemaining > 0 { continueFlood(conn) }
    }

    public func connectionClosed(_ conn: ServerConnection) {
        timer?.close()
        timer = nil
    }
}
