import HTTP1
import HTTPServer

/// The admin listener: `GET /healthz` (alive), `GET /readyz` (503 while draining), `GET /metrics`
/// (Prometheus text). Separate from the proxy port so probes and scrapes never queue behind model
/// traffic, and so it can stay up while the proxy listener drains.
public final class AdminHandler: ConnectionHandler {
    let shared: SharedState

    public init(shared: SharedState) { self.shared = shared }

    public func requestReady(_ conn: ServerConnection) {
        guard let request = conn.request else { return }
        let target = request.bytes[request.target]
        let path = target.split(separator: UInt8(ascii: "?"), maxSplits: 1, omittingEmptySubsequences: false).first ?? target[...]
        let isGet = request.bytes[request.method].elementsEqual("GET".utf8) || request.isHEAD
        switch String(decoding: path, as: UTF8.self) {
        case "/healthz" where isGet:
            respond(conn, 200, "application/json", "{\"status\":\"ok\"}\n")
        case "/readyz" where isGet:
            if shared.isReady {
                respond(conn, 200, "application/json", "{\"ready\":true}\n")
            } else {
                respond(conn, 503, "application/json", "{\"ready\":false,\"reason\":\"draining\"}\n")
            }
        case "/metrics" where isGet:
            let text = PrometheusText.render(shared.workerMetrics, draining: shared.isDraining, ready: shared.isReady)
            respond(conn, 200, "text/plain; version=0.0.4; charset=utf-8", text)
        case "/healthz", "/readyz", "/metrics":
            conn.respondError(status: 405, code: "method_not_allowed", message: "use GET", close: false)
        default:
            conn.respondError(status: 404, code: "not_found", message: "admin endpoints: /healthz /readyz /metrics", close: false)
        }
    }

    private func respond(_ conn: ServerConnection, _ status: Int, _ type: String, _ body: String) {
        var payload = body
        let isHEAD = conn.request?.isHEAD ?? false
        payload.withUTF8 { b in
            conn.writeHead(
                status: status, reason: ServerConnection.reasonPhrase(status).rawBytes,
                framing: isHEAD ? .empty(contentLength: b.count) : .length(b.count)
            ) { h in
                h.append("Content-Type: ")
                h.append(type)
                h.crlf()
                h.append("Cache-Control: no-store\r\n")
            }
            if !isHEAD { conn.writeBody(UnsafeRawBufferPointer(b)) }
        }
        conn.endResponse()
    }

    public func connectionWritable(_ conn: ServerConnection) {}
    public func connectionClosed(_ conn: ServerConnection) {}
}
