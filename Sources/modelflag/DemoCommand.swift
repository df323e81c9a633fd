import ArgumentParser
import HTTPServer
import Proxy
import StandIn
import UVCore

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a stand-in model and the sidecar in front of it on localhost; Ctrl-C stops both.")

    @Option(help: "Sidecar address.")
    var listen = "127.0.0.1:8080"

    @Option(help: "Admin address.")
    var admin = "127.0.0.1:8081"

    @Option(help: "Stand-in model address.")
    var model = "127.0.0.1:9101"

    func run() throws {
        let modelAddress = try address(model, flag: "--model")
        var upstream = UpstreamConfig(address: modelAddress)
        upstream.connectTimeoutMs = 2_000
        var options = ProxyOptions(listen: try address(listen, flag: "--listen"), upstream: upstream)
        options.admin = try address(admin, flag: "--admin")
        options.drainTimeoutMs = 5_000

        // The stand-in runs on its own loop thread; it ends with the process.
        var standIn = StandInOptions()
        standIn.model = "stable-v1"
        standIn.latencyMs = 30
        standIn.streamIntervalMs = 150
        let modelOptions = standIn
        _ = LoopThread.spawn {
            guard let loop = try? Loop(), (try? StandInServer.start(loop: loop, address: modelAddress, options: modelOptions)) != nil else {
                Log.write(.error, "demo_model_failed") { $0.field("addr", modelAddress.description) }
                return
            }
            loop.run()
        }
        let banner = """

            ModelFlag demo
              sidecar      http://\(listen)  ->  stand-in model "stable-v1" at http://\(model)
              admin        http://\(admin)/metrics  /healthz  /readyz

            Try:
              curl -s http://\(listen)/v1/chat/completions -H 'Content-Type: application/json' \\
                -d '{"model":"stable","messages":[{"role":"user","content":"hello"}]}'
              curl -sN http://\(listen)/v1/chat/completions -H 'Content-Type: application/json' \\
                -d '{"model":"stable","stream":true,"messages":[{"role":"user","content":"hello"}]}'
              curl -s http://\(admin)/metrics | grep modelflag_requests_total

            Ctrl-C stops the demo.

            """
        print(banner)
        let rc = ProxyRuntime.run(options)
        if rc != 0 { throw ExitCode(rc) }
    }
}
