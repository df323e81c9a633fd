import ArgumentParser
import HTTP1
import HTTPServer
import Proxy
import Records
import UVCore

/// Options shared by `run` and `demo`: everything about the proxy itself.
struct ProxyFlags: ParsableArguments {
    @Option(help: "Upstream (model server) address, HOST:PORT.")
    var upstream = "127.0.0.1:9000"

    @Option(
        help:
            "Event-loop threads sharing the port (SO_REUSEPORT). Give the sidecar more than one core before raising it."
    )
    var workers = 1

    @Option(help: "Largest request body; larger is 413.")
    var maxBody = ByteSize(bytes: 8 << 20)

    @Option(help: "Largest request header section; larger is 431.")
    var maxHeaderBytes = ByteSize(bytes: 64 << 10)

    @Option(help: "Most request header fields; more is 431.")
    var maxHeaders = 100

    @Option(help: "Longest request line; longer is 414.")
    var maxRequestLine = ByteSize(bytes: 8 << 10)

    @Option(help: "The request header section must arrive within this time (slowloris guard); else 408.")
    var headerTimeout = Duration(ms: 10_000)

    @Option(help: "Longest pause while reading a request body; else 408.")
    var bodyTimeout = Duration(ms: 30_000)

    @Option(help: "Idle client keep-alive connections are closed after this time.")
    var keepaliveTimeout = Duration(ms: 75_000)

    @Option(help: "Most client connections per worker; more get 503 and are closed.")
    var maxConnections = 4096

    @Option(help: "Connecting to the upstream must finish within this time; else 504.")
    var connectTimeout = Duration(ms: 5_000)

    @Option(help: "The upstream's response head must arrive within this time; else 504.")
    var upstreamHeaderTimeout = Duration(ms: 300_000)

    @Option(
        help:
            "Longest silence between reads of an upstream response body (e.g. between SSE events); the stream is then aborted."
    )
    var upstreamIdleTimeout = Duration(ms: 300_000)

    @Option(help: "Idle kept-alive upstream connections kept per worker.")
    var poolMaxIdle = 64

    @Option(help: "Idle pooled upstream connections are closed after this time.")
    var poolIdleTimeout = Duration(ms: 60_000)

    @Option(help: "After SIGTERM, in-flight requests and streams get this long before they are aborted.")
    var drainTimeout = Duration(ms: 30_000)

    @Option(
        help:
            "After SIGTERM, keep accepting this long with readiness already false (set it if your platform removes endpoints slowly; 0 closes the listener at once)."
    )
    var shutdownDelay = Duration(ms: 0)

    @Option(help: "Log level: debug, info, warn, error.")
    var logLevel = "info"

    func validate() throws {
        guard (1...64).contains(workers) else { throw ValidationError("--workers must be between 1 and 64") }
        guard maxBody.bytes > 0 else { throw ValidationError("--max-body must be positive") }
        guard maxHeaderBytes.bytes >= 1024 else { throw ValidationError("--max-header-bytes must be at least 1KiB") }
        guard Log.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be debug, info, warn or error")
        }
        _ = try address(upstream, flag: "--upstream")
    }

    func options(listen: String, admin: String?) throws -> ProxyOptions {
        var upstreamConfig = UpstreamConfig(address: try address(upstream, flag: "--upstream"))
        upstreamConfig.connectTimeoutMs = connectTimeout.milliseconds
        upstreamConfig.headerTimeoutMs = upstreamHeaderTimeout.milliseconds
        upstreamConfig.idleTimeoutMs = upstreamIdleTimeout.milliseconds
        upstreamConfig.maxIdle = poolMaxIdle
        upstreamConfig.poolIdleTimeoutMs = poolIdleTimeout.milliseconds
        var o = ProxyOptions(listen: try address(listen, flag: "--listen"), upstream: upstreamConfig)
        if let admin { o.admin = try address(admin, flag: "--admin") }
        o.workers = workers
        o.server.limits.maxBody = maxBody.bytes
        o.server.limits.maxHead = maxHeaderBytes.bytes
        o.server.limits.maxHeaders = maxHeaders
        o.server.limits.maxRequestLine = maxRequestLine.bytes
        o.server.headerTimeoutMs = headerTimeout.milliseconds
        o.server.bodyTimeoutMs = bodyTimeout.milliseconds
        o.server.keepAliveTimeoutMs = keepaliveTimeout.milliseconds
        o.server.maxConnections = maxConnections
        o.drainTimeoutMs = drainTimeout.milliseconds
        o.shutdownDelayMs = shutdownDelay.milliseconds
        Log.minimumLevel = Log.Level(rawValue: logLevel) ?? .info
        return o
    }
}

func address(_ text: String, flag: String) throws -> SocketAddress {
    do {
        return try SocketAddress(text)
    } catch {
        throw ValidationError("\(flag): \(error)")
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the sidecar proxy in front of one model server.",
        discussion: """
            Clients talk to --listen as if it were the model server (OpenAI-style HTTP/1.1 JSON and SSE). \
            SIGTERM or SIGINT drains gracefully: readiness turns false, the listener closes, in-flight \
            requests and streams finish (up to --drain-timeout), then the process exits 0. A second \
            signal exits at once with status 1.
            """
    )

    @Option(help: "Address clients connect to, HOST:PORT (port 0 picks a free port; the log says which).")
    var listen = "127.0.0.1:8080"

    @Option(help: "Admin address for /healthz, /readyz and /metrics, HOST:PORT. Off when not given.")
    var admin: String?

    @Option(
        help:
            "Flag rules file (JSON, see README). With it, requests are routed to the file's upstreams and --upstream is not used."
    )
    var rules: String?

    @Option(help: "Besides inotify, stat the rules file this often (0 turns polling off). SIGHUP forces a reload.")
    var rulesPollInterval = Duration(ms: 2_000)

    @Option(
        help: "Write a version-tagged output record per request to DIR/records.jsonl (JSON Lines). Off when not given.")
    var recordsDir: String?

    @Option(help: "Rotate the records file when it would grow past this size (renamed to records-<UTC>-<n>.jsonl).")
    var recordsMaxFileSize = ByteSize(bytes: 64 << 20)

    @Option(help: "Also rotate the records file once it has held records this long (0 = by size only).")
    var recordsMaxFileAge = Duration(ms: 0)

    @Option(help: "fsync policy for records: interval, always or never (rotation and shutdown always fsync).")
    var recordsFsync = "interval"

    @Option(help: "With --records-fsync interval: how often.")
    var recordsFsyncInterval = Duration(ms: 1_000)

    @Option(
        help:
            "Records fsynced this long ago leave the page cache, which counts against the pod's memory (0 = leave it to the kernel)."
    )
    var recordsDropCacheAfter = Duration(ms: 2_000)

    @Option(
        help:
            "Rotated records files kept (oldest deleted first; 0 keeps all). Files younger than 60 s are never deleted."
    )
    var recordsRetainFiles = 20

    @Option(help: "Bytes of rotated records files kept (oldest deleted first; 0 = no byte limit).")
    var recordsRetainBytes = ByteSize(bytes: 0)

    @OptionGroup var proxy: ProxyFlags

    func run() throws {
        var options = try proxy.options(listen: listen, admin: admin)
        if let rules {
            options.rulesPath = rules
            options.rules = try loadRules(rules)
            options.rulesPollMs = rulesPollInterval.milliseconds
        }
        if let dir = recordsDir {
            var config = RecordConfig(directory: dir)
            config.maxFileBytes = recordsMaxFileSize.bytes
            config.maxFileAgeMs = recordsMaxFileAge.milliseconds
            config.retainFiles = recordsRetainFiles
            config.retainBytes = recordsRetainBytes.bytes
            config.dropCachedAfterMs = recordsDropCacheAfter.milliseconds
            switch recordsFsync {
            case "interval": config.fsync = .interval(recordsFsyncInterval.milliseconds)
            case "always": config.fsync = .always
            case "never": config.fsync = .never
            default: throw ValidationError("--records-fsync must be interval, always or never")
            }
            options.records = config
        }
        let rc = ProxyRuntime.run(options)
        if rc != 0 { throw ExitCode(rc) }
    }
}
