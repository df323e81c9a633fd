import ArgumentParser
import StandIn

struct StubModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stub-model",
        abstract: "Run a stand-in OpenAI-compatible model server (for trying the sidecar, tests and benchmarks).",
        discussion: """
            POST /v1/chat/completions answers with deterministic content derived from the prompt, as JSON,
            or as SSE when the request has "stream": true. GET /v1/models lists the model.
            """
    )

    @Option(help: "Address to listen on, HOST:PORT.")
    var listen = "127.0.0.1:9000"

    @Option(help: "Model name reported in responses.")
    var model = "stand-in"

    @Option(help: "Delay before each response head.")
    var latency = Duration(ms: 0)

    @Option(help: "Fraction (0-1) of chat requests answered with 500.")
    var errorRate = 0.0

    @Option(help: "Confidence reported in X-Model-Confidence and the \"confidence\" field.")
    var confidence = 0.9

    @Option(
        help: ArgumentHelp(
            "Answer worse when the request body contains TEXT: replace that share of the words and scale the confidence down by it. Repeatable; the first TEXT found applies.",
            valueName: "TEXT=SHARE"))
    var degrade: [String] = []

    @Option(help: "Content events per SSE stream.")
    var streamEvents = 8

    @Option(help: "Pause between SSE events.")
    var streamInterval = Duration(ms: 20)

    @Flag(
        help:
            "Honour the X-StandIn-Fault request header (reset, hang, malformed, bare-lf, huge-headers, bad-chunk, close-mid-stream, delay=MS). For tests only."
    )
    var faults = false

    func validate() throws {
        guard (0...1).contains(errorRate) else { throw ValidationError("--error-rate must be between 0 and 1") }
        guard streamEvents >= 1 else { throw ValidationError("--stream-events must be at least 1") }
        for d in degrade {
            guard let eq = d.lastIndex(of: "="), let share = Double(d[d.index(after: eq)...]), (0...1).contains(share),
                eq != d.startIndex
            else {
                throw ValidationError("--degrade takes TEXT=SHARE with SHARE from 0 to 1, e.g. escalat=0.6; got '\(d)'")
            }
        }
        _ = try address(listen, flag: "--listen")
    }

    func run() throws {
        var o = StandInOptions()
        o.model = model
        o.latencyMs = latency.milliseconds
        o.errorRate = errorRate
        o.confidence = confidence
        o.streamEvents = streamEvents
        o.streamIntervalMs = streamInterval.milliseconds
        o.faults = faults
        o.degrade = degrade.map { d in
            let eq = d.lastIndex(of: "=")!
            return (Array(d[..<eq].utf8), Double(d[d.index(after: eq)...])!)
        }
        let rc = StandInServer.run(address: try address(listen, flag: "--listen"), options: o)
        if rc != 0 { throw ExitCode(rc) }
    }
}
