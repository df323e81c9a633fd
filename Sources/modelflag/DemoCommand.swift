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

    @ArgumentParser.Flag(
        help: """
            The quality-gate scenario: a candidate 15 % better than stable on average but 40 % worse on \
            escalations, shadowed at 100 % and judged per segment, with built-in traffic; then run \
            `modelflag gate` on it (the banner says how).
            """)
    var scenario = false

    func run() throws {
        var rules = self.rules
        if scenario {
            // A copy: `gate --apply` edits the file it is given, never the example in the repository.
            let dir = "/tmp/modelflag-demo-scenario"
            mkdir(dir, 0o755)
            rules = dir + "/rules.json"
            guard let bytes = readWholeFile("examples/rules/quality-gate.json") else {
                throw ValidationError("cannot read examples/rules/quality-gate.json (run the demo from the repository)")
            }
            let fd = open(rules, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw ValidationError("cannot write \(rules)") }
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
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
        if scenario {
            // Stable gets a fifth of every answer wrong; the candidate answers with stable's words,
            // 3 % wrong (15 % better on average) but 52 % on escalations (40 % worse there).
            stable.degrade = [(Array("messages".utf8), 0.2)]
            candidate.wordsOf = stable.model
            candidate.degrade = [(Array("escalat".utf8), 0.52), (Array("messages".utf8), 0.03)]
        }
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
        print(scenario ? scenarioBanner(rules) : banner)
        fflush(nil)  // show the banner now even when stdout is a pipe or a file
        if scenario { DemoTraffic.start(sidecar: options.listen, clients: 3, perSecond: 20) }
        let rc = ProxyRuntime.run(options)
        if rc != 0 { throw ExitCode(rc) }
    }

    private func scenarioBanner(_ rules: String) -> String {
        """

        ModelFlag demo: the quality-gate scenario
          sidecar    http://\(listen)   rules: \(rules) (a copy of examples/rules/quality-gate.json)
          models     stable-v1 (a fifth of each answer wrong) and candidate-v2 (3 % wrong, but 52 % on
                     escalations): 15 % better on average, 40 % worse for one segment
          traffic    about 50 requests/s from the demo itself, a tenth of them escalations; every request is
                     shadowed to the candidate and to stable itself (the noise floor), and the stand-in
                     judge scores each answer (score:quality)
          watch      http://\(admin)/dashboard  (per segment: requests, scores, gate verdicts)

        In another terminal, after a minute or so:
          .build/release/modelflag gate --rules \(rules) --source admin://\(admin)
              -> the average passes, faq passes, escalation FAILS with its figures (exit 1)
          .build/release/modelflag gate --rules \(rules) --source admin://\(admin) --apply
              -> blocks escalation and moves the rollout to its next stage; the sidecar reloads
          curl -si http://\(listen)/v1/chat/completions -H 'X-User-Id: user-1' \\
            -d '{"model":"chat","metadata":{"intent":"faq"},"messages":[{"role":"user","content":"hi"}]}'

        Ctrl-C stops the demo.

        """
    }
}
