import Foundation
import Testing

/// The admin dashboard, loaded in a real headless browser (Debian's chromium; `scripts/test`
/// installs it): the script must fetch `/stats` and draw the segment × variant table with verdicts.
@Suite(.serialized) struct DashboardTests {
    static let chromium: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    @Test(.enabled(if: chromium != nil, "needs Debian's chromium: scripts/test installs it"))
    func dashboardDrawsSegmentsAndVerdicts() throws {
        let fleet = try ShadowTests.ShadowFleet(
            candidateModel: "stable-v1",
            flagExtra:
                #", "gates": [{"metric": "rouge_l", "min": 0.5, "minSamples": 10}, {"metric": "error_rate", "max": 0.5, "minSamples": 10}, {"metric": "rouge_l", "below": 0.5, "max": 0.5, "minSamples": 10}]"#
        )
        let c = try Client(port: fleet.port)
        for i in 0..<60 { #expect(try c.request(chatRequest(ShadowTests.body(i))).status == 200) }
        usleep(500_000)
        let admin = fleet.proxy.port("admin")
        // The JSON first: the candidate's shadow rows carry the verdicts.
        let stats = try Client(port: admin).request("GET /stats HTTP/1.1\r\nHost: a\r\n\r\n").bodyText
        let rows =
            (try JSONSerialization.jsonObject(with: Data(stats.utf8)) as! [String: Any])["rows"] as! [[String: Any]]
        let all = try #require(rows.first { $0["role"] as? String == "shadow" && $0["segment"] as? String == "*" })
        let verdicts = (all["gates"] as? [[String: Any]] ?? []).compactMap { $0["verdict"] as? String }
        #expect(verdicts == ["PASS", "PASS", "PASS"])
        let metrics = try Client(port: admin).request("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n").bodyText
        #expect(
            metrics.contains(
                #"modelflag_gate_verdict{flag="chat",variant="candidate",role="shadow",segment="*",metric="rouge_l"} 1"#
            ))
        // Then the page, as a browser draws it.
        let profile = NSTemporaryDirectory() + "modelflag-chromium-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let (rc, dom) = try runProgram([
            Self.chromium!, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--user-data-dir=\(profile)", "--virtual-time-budget=5000", "--dump-dom",
            "http://127.0.0.1:\(admin)/dashboard",
        ])
        #expect(rc == 0)
        #expect(dom.contains("flag chat"))
        #expect(dom.contains(#"<td class="segment">faq</td>"#))
        #expect(dom.contains("candidate · shadow"))
        #expect(dom.contains(#"class="verdict pass""#))
        #expect(dom.contains("rouge_l&lt;0.5 PASS"), "the tail gate's label, as text")
        #expect(!dom.contains(#"class="verdict fail""#))
        #expect(dom.contains(#"<p id="status">window 10 min"#))  // the script ran and read /stats
    }
}

/// Every metric the Grafana dashboard in `examples/grafana` queries is one the sidecar exports.
@Suite(.serialized) struct GrafanaDashboardTests {
    @Test func everyQueriedMetricIsExported() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../examples/grafana/modelflag.json").path
        let json = try String(contentsOfFile: path, encoding: .utf8)
        _ = try JSONSerialization.jsonObject(with: Data(json.utf8))  // valid JSON
        let regex = try NSRegularExpression(pattern: "modelflag_[a-z_]+")
        var names = Set<String>()
        for m in regex.matches(in: json, range: NSRange(json.startIndex..., in: json)) {
            names.insert(String(json[Range(m.range, in: json)!]))
        }
        #expect(names.count > 10)
        let fleet = try ShadowTests.ShadowFleet(
            flagExtra:
                #", "rollbackOn": [{"variant": "candidate", "above": 0.5}], "evaluator": {"url": "http://127.0.0.1:STABLE_PORT/v1/evaluate"}, "gates": [{"metric": "rouge_l", "min": 0.5, "minSamples": 5}, {"metric": "score:quality", "below": 0.5, "max": 0.5, "minSamples": 5}]"#
        )
        let c = try Client(port: fleet.port)
        for i in 0..<10 { #expect(try c.request(chatRequest(ShadowTests.body(i))).status == 200) }
        usleep(300_000)
        let metrics = try Client(port: fleet.proxy.port("admin")).request("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
            .bodyText
        let exported = Set(
            metrics.split(separator: "\n").filter { !$0.hasPrefix("#") }.map {
                String($0.prefix { $0 != "{" && $0 != " " })
            })
        for name in names.sorted() where name != "modelflag" {
            #expect(exported.contains(name), "\(name) is queried by the dashboard but not exported")
        }
    }
}

/// `modelflag gate --source admin://...` adds up the sidecars' `/stats` windows (here the same
/// sidecar twice, so every count doubles) and judges them like records.
@Suite(.serialized) struct GateAdminSourceTests {
    @Test func gateReadsTheSidecarsWindows() throws {
        let fleet = try ShadowTests.ShadowFleet(
            candidateModel: "stable-v1",
            flagExtra:
                #", "gates": [{"metric": "rouge_l", "min": 0.5, "minSamples": 20}, {"metric": "error_rate", "max": 0.5, "minSamples": 20}]"#
        )
        let c = try Client(port: fleet.port)
        for i in 0..<30 { #expect(try c.request(chatRequest(ShadowTests.body(i))).status == 200) }
        usleep(500_000)
        let admin = "127.0.0.1:\(fleet.proxy.port("admin"))"
        let (rc, out) = try runBinary(["gate", "--rules", fleet.rulesPath, "--source", "admin://\(admin),\(admin)"])
        #expect(rc == 0, "\(out)")
        let rows = out.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        let all = try #require(rows.first { $0.count == 9 && $0[2] == "*" && $0[3] == "rouge_l" })
        #expect(all[4] == "60")
        #expect(all[8] == "PASS")
        let (rcDown, _) = try runBinary(["gate", "--rules", fleet.rulesPath, "--source", "admin://127.0.0.1:1"])
        #expect(rcDown == 64)  // an unreachable sidecar is an error, never a verdict
    }
}
