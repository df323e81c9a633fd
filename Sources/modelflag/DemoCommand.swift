import ArgumentParser
import Glibc
import HTTPServer
import Proxy
import Records
import Rules
import StandIn
import UVCore

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start two stand-in models and the sidecar in front of them with example rules; Ctrl-C stops all.",
        discussion: "The rules file is watched: edit it while the demo runs and the next requests follow it.")

    @Option(help: "Sidecar address.")
    var listen = "127.0.0.1:8080"

    @Option(help: "Admin address.")
    var admin = "127.0.0.1:8081"

    @Option(help: "Rules file; its upstreams must be the stand-in addresses below.")
    var rules = "examples/rules/canary-by-segment.json"

    @Option(help: "Directory for the output records (and the statistics on /stats).")
    var recordsDir = "/tmp/modelflag-demo-records"

    @Option(help: "Address of the stand-in \"stable\" model.")
    var stableModel = "127.0.0.1:9101"

    @Option(help: "Address of the stand-in \"candidate\" model.")
    var candidateModel = "127.0.0.1:9102"

    func run() throws {
        let ruleSet = try loadRules(rules)
        let stableAddress = try address(stableModel, flag: "--stable-model")
        let candidateAddress = try address(candidateModel, flag: "--candidate-model")
        var options = ProxyOptions(
            listen: try address(listen, flag: "--listen"), upstream: UpstreamConfig(address: stableAddress))
        options.admin = try address(admin, flag: "--admin")
        options.drainTimeoutMs = 5_000
        options.rulesPath = rules
        options.rules = ruleSet
        options.upstream.connectTimeoutMs = 2_000
        options.records = RecordConfig(directory: recordsDir)

        // Both stand-ins run on one extra loop thread; they end with the process.
        var stable = StandInOptions()
        stable.model = "stable-v1"
        stable.latencyMs = 30
        stable.streamIntervalMs = 150
        var candidate = stable
        candidate.model = "candidate-v2"
        candidate.latencyMs = 20
        let models = [(stableAddress, stable), (candidateAddress, candidate)]
        _ = LoopThread.spawn {
            guard let loop = try? Loop() else { return }
            for (addr, opts) in models where (try? StandInServer.start(loop: loop, address: addr, options: opts)) == nil
            {
                Log.write(.error, "demo_model_failed") { $0.field("addr", addr.description) }
            }
            loop.run()
        }
        let banner = """

            ModelFlag demo
              sidecar    http://\(listen)   rules: \(rules) (revision \(ruleSet.revision), hot-reloaded)
              models     stable-v1 at http://\(stableModel), candidate-v2 at http://\(candidateModel) (stand-ins)
              admin      http://\(admin)/dashboard  /stats  /metrics  /rules  /healthz  /readyz
              records    \(recordsDir)/records.jsonl   (.build/release/modelflag records tail --dir \(recordsDir))
              shadow     restart with --rules examples/rules/shadow-candidate.json: the candidate sees every
                         request in shadow, scored against stable in its records and on /stats

            Try (the X-ModelFlag-Variant header says which model answered):
              curl -si http://\(listen)/v1/chat/completions -H 'X-User-Id: alice' \\
                -d '{"model":"chat","metadata":{"intent":"faq"},"messages":[{"role":"user","content":"hello"}]}'
              curl -si http://\(listen)/v1/chat/completions -H 'X-User-Id: bob' \\
                -d '{"model":"chat","metadata":{"tier":"enterprise"},"messages":[{"role":"user","content":"hello"}]}'
              curl -sN http://\(listen)/v1/chat/completions -H 'X-User-Id: carol' \\
                -d '{"model":"chat","stream":true,"messages":[{"role":"user","content":"hello"}]}'
              .build/release/modelflag explain --rules \(rules) -H 'X-User-Id: alice' --request <(echo '{"metadata":{"intent":"faq"}}')

            Ctrl-C stops the demo.

            """
        print(banner)
        fflush(nil)  // show the banner now even when stdout is a pipe or a file
        let rc = ProxyRuntime.run(options)
        if rc != 0 { throw ExitCode(rc) }
    }
}
