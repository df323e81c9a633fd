import HTTP1
import HTTPServer
import Rules
import Synchronization

/// The admin listener: `GET /healthz` (alive), `GET /readyz` (503 while draining), `GET /metrics`
/// (Prometheus text). Separate from the proxy port so probes and scrapes never queue behind model
/// traffic, and so it can stay up while the proxy listener drains.
public final class AdminHandler: ConnectionHandler {
    let shared: SharedState

    public init(shared: SharedState) { self.shared = shared }

    public func requestReady(_ conn: ServerConnection) {
        guard let request = conn.request else { return }
        let target = request.bytes[request.target]
        let path =
            target.split(separator: UInt8(ascii: "?"), maxSplits: 1, omittingEmptySubsequences: false).first
            ?? target[...]
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
            var text = PrometheusText.render(shared.workerMetrics, draining: shared.isDraining, ready: shared.isReady)
            text += rulesMetrics()
            if let stats = shared.recordStats.withLock({ $0 }) { text += PrometheusText.records(stats) }
            text += shared.segmentStats.prometheus(rules: shared.rules.latest?.rules)
            respond(conn, 200, "text/plain; version=0.0.4; charset=utf-8", text)
        case "/rules" where isGet:
            respond(conn, 200, "application/json", rulesJSON())
        case "/stats" where isGet:
            respond(conn, 200, "application/json", shared.segmentStats.json(rules: shared.rules.latest?.rules))
        case "/dashboard" where isGet, "/" where isGet:
            respond(conn, 200, "text/html; charset=utf-8", Dashboard.html)
        case "/healthz", "/readyz", "/metrics", "/rules", "/stats", "/dashboard":
            conn.respondError(status: 405, code: "method_not_allowed", message: "use GET", close: false)
        default:
            conn.respondError(
                status: 404, code: "not_found",
                message: "admin endpoints: /healthz /readyz /metrics /rules /stats /dashboard",
                close: false)
        }
    }

    /// The active rules revision, when it loaded, and the last reload error.
    private func rulesJSON() -> String {
        let st = shared.rules.status.withLock { $0 }
        var b: [UInt8] = []
        func field(_ name: String, _ value: String?) {
            b.append(contentsOf: "\"\(name)\":".utf8)
            if let value { JSONText.appendString(&b, value.utf8) } else { b.append(contentsOf: "null".utf8) }
            b.append(UInt8(ascii: ","))
        }
        b.append(UInt8(ascii: "{"))
        field("path", st.path)
        field("revision", st.revision)
        field("loadedAt", st.loadedAt)
        field("lastError", st.lastError)
        field("lastErrorAt", st.lastErrorAt)
        b.append(
            contentsOf:
                "\"reloads\":\(st.reloads),\"failures\":\(st.failures),\"lastReloadSuccessful\":\(st.lastReloadSuccessful)}\n"
                .utf8)
        return String(decoding: b, as: UTF8.self)
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
                h.appendString(type)
                h.crlf()
                h.append("Cache-Control: no-store\r\n")
            }
            if !isHEAD { conn.writeBody(UnsafeRawBufferPointer(b)) }
        }
        conn.endResponse()
    }

    private func rulesMetrics() -> String {
        let st = shared.rules.status.withLock { $0 }
        guard st.path != nil else { return "" }
        var out = shared.flagCounters.render()
        if let rules = shared.rules.latest?.rules, rules.flags.contains(where: { !$0.tripwires.isEmpty }) {
            out += "# HELP modelflag_rollback_tripped 1 while a rollback tripwire of the active rules has tripped.\n"
            out += "# TYPE modelflag_rollback_tripped gauge\n"
            for flag in rules.flags {
                for w in flag.tripwires {
                    out +=
                        "modelflag_rollback_tripped{flag=\"\(flag.key)\",variant=\"\(flag.variants[w.variant].name)\",metric=\"\(w.metric.rawValue)\"} \(w.isTripped ? 1 : 0)\n"
                }
            }
        }
        out +=
            "# HELP modelflag_rules_reloads_total Rules revisions applied after start.\n# TYPE modelflag_rules_reloads_total counter\n"
        out += "modelflag_rules_reloads_total \(st.reloads)\n"
        out +=
            "# HELP modelflag_rules_reload_failures_total Reloads refused (invalid, empty, truncated or missing file); the last good rules stayed.\n"
        out +=
            "# TYPE modelflag_rules_reload_failures_total counter\nmodelflag_rules_reload_failures_total \(st.failures)\n"
        out +=
            "# HELP modelflag_rules_last_reload_successful 1 when the last reload attempt applied or found no change.\n"
        out +=
            "# TYPE modelflag_rules_last_reload_successful gauge\nmodelflag_rules_last_reload_successful \(st.lastReloadSuccessful ? 1 : 0)\n"
        out +=
            "# HELP modelflag_rules_info The active rules revision (content hash).\n# TYPE modelflag_rules_info gauge\n"
        out += "modelflag_rules_info{revision=\"\(st.revision ?? "")\"} 1\n"
        return out
    }

    public func connectionWritable(_ conn: ServerConnection) {}
    public func connectionClosed(_ conn: ServerConnection) {}
}
