import Foundation
import Testing

/// `modelflag gate --source prometheus://`: a real Prometheus (Debian's) scrapes a real sidecar's
/// `/metrics`; the gate table from Prometheus equals the one from the sidecar's own `/stats`.
@Suite(.serialized) struct PrometheusGateTests {
    static let prometheus = installedProgram("/usr/bin/prometheus", "/usr/local/bin/prometheus")

    /// Prometheus on a free port with a 1 s scrape of `target`; stopped (and its data removed) on deinit.
    final class Server: @unchecked Sendable {
        let process: ExternalProcess
        let port: UInt16
        let dir: String

        init(scraping target: String) throws {
            dir = NSTemporaryDirectory() + "modelflag-prometheus-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let config = """
                global: {scrape_interval: 1s, evaluation_interval: 1s}
                scrape_configs:
                  - job_name: modelflag
                    static_configs: [{targets: ["\(target)"]}]
                """
            try config.write(toFile: dir + "/prometheus.yml", atomically: true, encoding: .utf8)
            port = try Blackhole.freePort()
            process = try ExternalProcess(
                [
                    PrometheusGateTests.prometheus!, "--config.file=\(dir)/prometheus.yml",
                    "--storage.tsdb.path=\(dir)/data", "--web.listen-address=127.0.0.1:\(port)",
                ], logsIn: dir)
        }

        /// The summed value of an instant query, or nil (not up yet, or no data).
        func value(_ query: String) -> Double? {
            guard let c = try? Client(port: port, timeout: 2) else { return nil }
            let q = query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            guard let r = try? c.request("GET /api/v1/query?query=\(q) HTTP/1.1\r\nHost: p\r\n\r\n"), r.status == 200,
                let root = try? JSONSerialization.jsonObject(with: Data(r.bodyText.utf8)) as? [String: Any],
                let result = (root["data"] as? [String: Any])?["result"] as? [[String: Any]],
                let first = result.first, let pair = first["value"] as? [Any], let text = pair.last as? String
            else { return nil }
            return Double(text)
        }

        deinit {
            process.stop()  // before its data directory goes
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    @Test(.enabled(if: prometheus != nil, "needs Debian's prometheus: scripts/test installs it"))
    func prometheusSourceAgreesWithTheSidecar() throws {
        let fleet = try ShadowTests.ShadowFleet(
            candidateArgs: ["--degrade", "faq=0.5"],
            flagExtra:
                #", "gates": [{"metric": "rouge_l", "min": 0.5, "minSamples": 5}, {"metric": "rouge_l", "below": 0.9, "max": 0.3, "minSamples": 5}, {"metric": "error_rate", "max": 0.5, "minSamples": 5}, {"metric": "latency_ms", "above": 10000, "vsStable": 0.5, "minSamples": 5}]"#
        )
        let admin = "127.0.0.1:\(fleet.proxy.port("admin"))"
        let prom = try Server(scraping: admin)
        let c = try Client(port: fleet.port)
        for i in 0..<40 { #expect(try c.request(chatRequest(ShadowTests.body(i))).status == 200) }
        usleep(300_000)
        // Wait for a scrape that has every shadow pair: 40 candidate rouge_l observations in `*`.
        var seen: Double?
        for _ in 0..<150 where seen != 40 {
            usleep(100_000)
            seen = prom.value(
                #"sum(modelflag_gate_observations_total{variant="candidate",segment="*",gate="rouge_l"})"#)
        }
        #expect(seen == 40, "Prometheus never scraped the counters")
        func table(_ out: String) -> [String: [String]] {
            var rows: [String: [String]] = [:]
            for line in out.split(separator: "\n") {
                let f = line.split(separator: "\t").map(String.init)
                // n, value to 2 places, verdict: /stats rounds a mean to 4 places, Prometheus keeps
                // the exact sum, so the intervals may differ in the last digit.
                guard f.count == 9 && f[0] == "chat" else { continue }
                let value = Double(f[5]).map { String(format: "%.2f", $0) } ?? f[5]
                rows[f[2] + " " + f[3] + " " + f[7]] = [f[4], value, f[8]]
            }
            return rows
        }
        let (rcStats, fromStats) = try runBinary(["gate", "--rules", fleet.rulesPath, "--source", "admin://\(admin)"])
        let (rcProm, fromProm) = try runBinary(
            ["gate", "--rules", fleet.rulesPath, "--source", "prometheus://127.0.0.1:\(prom.port)"], withStderr: true)
        #expect(rcProm == rcStats)
        #expect(table(fromProm).count == 8, "\(fromProm)")  // (*, faq) x 4 gates
        #expect(table(fromProm) == table(fromStats), "prometheus:\n\(fromProm)\nadmin:\n\(fromStats)")
        #expect(fromProm.contains("since the sidecars started"))
        // --since before the traffic: the same counts; after it: nothing left (inconclusive).
        let (_, early) = try runBinary([
            "gate", "--rules", fleet.rulesPath, "--source", "prometheus://127.0.0.1:\(prom.port)",
            "--since", "2020-01-01T00:00:00Z",
        ])
        #expect(table(early) == table(fromProm), "\(early)")
        sleep(2)
        let later = ISO8601DateFormatter().string(from: Date().addingTimeInterval(-1))
        let (rcLater, late) = try runBinary([
            "gate", "--rules", fleet.rulesPath, "--source", "prometheus://127.0.0.1:\(prom.port)", "--since", later,
        ])
        #expect(rcLater == 2, "\(late)")
        #expect(table(late).values.allSatisfy { $0[0] == "0" }, "\(late)")
        // A Prometheus that is not there is an error, never a verdict.
        let dead = try Blackhole.freePort()
        let (rcDead, _) = try runBinary([
            "gate", "--rules", fleet.rulesPath, "--source", "prometheus://127.0.0.1:\(dead)",
        ])
        #expect(![0, 1, 2].contains(rcDead))
    }
}
