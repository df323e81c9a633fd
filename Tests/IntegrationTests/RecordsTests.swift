import Foundation
import Synchronization
import Testing

/// Output records written by the real binary (reliability cases E42, E43, G52 fsync on shutdown).
/// Writes `DIR/records.jsonl` as the sidecar would: a file header, then one record per line.
func writeRecordFile(_ records: [String], in dir: String) throws {
    let header = #"{"seq":0,"type":"file_header","schema":"modelflag.records/v1","file_id":"fixture"}"#
    try (([header] + records).joined(separator: "\n") + "\n").write(
        toFile: dir + "/records.jsonl", atomically: true, encoding: .utf8)
}

@Suite(.serialized) struct RecordsIntegrationTests {
    func readRecords(_ dir: String) throws -> [[String: Any]] {
        var out: [[String: Any]] = []
        for f in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() where f.hasSuffix(".jsonl") {
            let text = try String(contentsOfFile: dir + "/" + f, encoding: .utf8)
            for line in text.split(separator: "\n") {
                let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                if obj["type"] as? String != "file_header" { out.append(obj) }
            }
        }
        return out
    }

    func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "modelflag-recs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func everyExchangeIsRecordedWithItsOutcome() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let stack = try Stack(proxyArgs: ["--records-dir", dir, "--upstream-header-timeout", "1500ms"])
        let c = try Client(port: stack.port)
        for i in 0..<20 { #expect(try c.request(chatRequest(extra: "X-Request-Id: ok-\(i)\r\n")).status == 200) }
        #expect(try c.request(chatRequest(extra: "X-Request-Id: err-1\r\nX-StandIn-Fault: reset\r\n")).status == 502)
        #expect(try c.request(chatRequest(extra: "X-Request-Id: slow-1\r\nX-StandIn-Fault: hang\r\n")).status == 504)
        let s = try Client(port: stack.port)
        s.send(
            chatRequest(
                #"{"stream":true,"messages":[]}"#, extra: "X-Request-Id: cut-1\r\nX-StandIn-Fault: close-mid-stream\r\n"
            ))
        _ = s.readToEnd()
        // A client that leaves while the model is still thinking, on a sidecar whose header timeout
        // is a minute away: however long a loaded machine starves it, it reads the client's EOF
        // before that timer is due (it runs expired timers before it reads sockets).
        let patient = try Stack(proxyArgs: ["--records-dir", dir + "/patient", "--upstream-header-timeout", "60s"])
        let gone = try Client(port: patient.port)
        gone.send(chatRequest(extra: "X-Request-Id: gone-1\r\nX-StandIn-Fault: delay=120000\r\n"))
        usleep(200_000)
        close(gone.fd)
        usleep(300_000)
        stack.proxy.signal(SIGTERM)  // records are flushed and fsynced at shutdown
        patient.proxy.signal(SIGTERM)
        #expect(stack.proxy.wait(timeout: 10) == 0, "proxy log:\n\(stack.proxy.log)")
        #expect(patient.proxy.wait(timeout: 10) == 0, "patient proxy log:\n\(patient.proxy.log)")
        let records = try readRecords(dir) + readRecords(dir + "/patient")
        let byId = Dictionary(records.map { ($0["request_id"] as! String, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(records.count == 24)
        for i in 0..<20 {
            let r = try #require(byId["ok-\(i)"])
            #expect(r["outcome"] as? String == "ok")
            #expect(r["status"] as? Int == 200)
            #expect(r["role"] as? String == "served")
            #expect((r["bytes_out"] as? Int ?? 0) > 0)
            // The stand-in reports usage; the record carries it.
            let usage = r["usage"] as? [String: Any]
            #expect((usage?["completion_tokens"] as? Int ?? 0) > 0)
            #expect((usage?["prompt_tokens"] as? Int ?? 0) > 0)
        }
        #expect(byId["err-1"]?["usage"] is NSNull)
        #expect(byId["err-1"]?["outcome"] as? String == "upstream_error")
        #expect(byId["err-1"]?["status"] as? Int == 502)
        #expect(byId["slow-1"]?["outcome"] as? String == "timeout")
        #expect(byId["cut-1"]?["outcome"] as? String == "incomplete")
        #expect(byId["gone-1"]?["outcome"] as? String == "client_cancelled")
    }

    @Test func recordsCarryFlagVariantAndModelVersion() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fleet = try RulesRoutingTests.Fleet(flags: RulesRoutingTests.segmentFlags)
        let proxy = try Spawned(
            ["run", "--listen", "127.0.0.1:0", "--rules", fleet.rulesPath, "--records-dir", dir], roles: ["proxy"])
        let c = try Client(port: proxy.port("proxy"))
        let body = #"{"model":"chat","user":"u9","metadata":{"intent":"faq"},"messages":[]}"#
        #expect(try c.request(chatRequest(body, extra: "X-Request-Id: faq-1\r\nX-User-Id: u9\r\n")).status == 200)
        proxy.signal(SIGTERM)
        #expect(proxy.wait(timeout: 10) == 0)
        let r = try #require(try readRecords(dir).first { $0["request_id"] as? String == "faq-1" })
        #expect(r["flag"] as? String == "chat-model")
        #expect(r["variant"] as? String == "candidate")
        #expect(r["model_version"] as? String == "v2")
        #expect(r["upstream"] as? String == "candidate")
        #expect(r["targeting_key_source"] as? String == "header:x-user-id")
        #expect((r["rules_revision"] as? String)?.count == 16)
    }

    /// E44: rotation by size and age under load while a tailer that follows renames (as Vector
    /// and Fluent Bit do: by inode, draining the old file before switching) reads everything:
    /// zero lost, zero duplicated, sequence numbers contiguous in every file.
    @Test func rotationUnderLoadWithAFollowingTailerLosesNothing() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let stack = try Stack(proxyArgs: [
            "--records-dir", dir, "--records-max-file-size", "64KiB", "--records-max-file-age", "200ms",
        ])
        let tailer = FollowingTailer(path: dir + "/records.jsonl")
        tailer.start()
        let ids = chatLoad(port: stack.port, seconds: 2.5)
        usleep(200_000)  // the writer's last batch
        let written = try stack.metric("modelflag_records_written_total")
        let dropped = try stack.metric(#"modelflag_records_dropped_total{reason="queue_full"}"#)
        stack.proxy.signal(SIGTERM)
        #expect(stack.proxy.wait(timeout: 10) == 0)
        let result = tailer.stop()
        // On disk, whatever the tailer saw: tells a tailer that fell behind from a writer that lost.
        let onDisk = (try? FileManager.default.contentsOfDirectory(atPath: dir))?.filter { $0.hasSuffix(".jsonl") }
            .reduce(0) { n, f in
                n + ((try? String(contentsOfFile: dir + "/" + f, encoding: .utf8))?.split(separator: "\n").count ?? 0)
            }
        #expect(dropped == 0)
        #expect(
            result.ids.count == ids.count,
            "tailer read \(result.ids.count) of \(ids.count) ids in \(result.files) files; written \(written), dropped \(dropped), \(onDisk ?? -1) lines on disk"
        )
        #expect(ids.count > 500)
        #expect(result.files > 5, "rotations seen by the tailer")
        #expect(result.duplicates.isEmpty)
        #expect(result.seqGaps.isEmpty, "\(result.seqGaps.prefix(5))")
        #expect(result.badLines == 0)
        let difference = Set(result.ids).symmetricDifference(ids)
        #expect(difference.isEmpty, "\(difference.count) ids differ, e.g. \(difference.sorted().prefix(8))")
    }

    /// E42: kill -9 during load, restart: every line of every file parses.
    @Test func killDashNineThenRestartLeavesOnlyWholeLines() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try Spawned(["stub-model", "--listen", "127.0.0.1:0"], roles: ["stand-in"])
        let args = [
            "run", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:\(model.port("stand-in"))", "--records-dir", dir,
        ]
        for round in 0..<3 {
            let proxy = try Spawned(args, roles: ["proxy"])
            let port = proxy.port("proxy")
            let load = Thread {
                guard let c = try? Client(port: port, timeout: 2) else { return }
                for i in 0..<100_000 {
                    guard (try? c.request(chatRequest(extra: "X-Request-Id: r\(round)-\(i)\r\n"))) != nil else {
                        return
                    }
                }
            }
            load.start()
            usleep(300_000)
            proxy.signal(SIGKILL)
            _ = proxy.wait(timeout: 5)
            usleep(100_000)
        }
        let last = try Spawned(args, roles: ["proxy"])
        let c = try Client(port: last.port("proxy"))
        #expect(try c.request(chatRequest(extra: "X-Request-Id: after\r\n")).status == 200)
        last.signal(SIGTERM)
        #expect(last.wait(timeout: 10) == 0)
        let records = try readRecords(dir)  // throws if any line does not parse
        #expect(records.count > 10)
        #expect(records.contains { $0["request_id"] as? String == "after" })
    }
}

/// A test tailer that follows a file across renames the way log collectors do: it holds the
/// open file, and when the path names a new inode it reads the old one to its end first.
final class FollowingTailer: @unchecked Sendable {
    struct Result {
        var ids: [String] = []
        var duplicates: [String] = []
        var seqGaps: [String] = []
        var badLines = 0
        var files = 0
    }

    let path: String
    private let stopping = Mutex(false)
    private var result = Result()
    private var thread: Thread?

    init(path: String) { self.path = path }

    func start() {
        thread = Thread { [self] in run() }
        thread?.start()
    }

    func stop() -> Result {
        stopping.withLock { $0 = true }
        while thread?.isFinished == false { usleep(10_000) }
        return result
    }

    private func run() {
        var fd: Int32 = -1
        var inode: ino_t = 0
        var pending: [UInt8] = []
        var seen = Set<String>()
        var nextSeq = 0
        var buf = [UInt8](repeating: 0, count: 65536)
        func consume() {
            while true {
                let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, 65536) }
                if n <= 0 { return }
                pending.append(contentsOf: buf[0..<n])
                while let nl = pending.firstIndex(of: 0x0A) {
                    let line = Data(pending[0..<nl])
                    pending.removeSubrange(0...nl)
                    guard let obj = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else {
                        result.badLines += 1
                        continue
                    }
                    let seq = obj["seq"] as? Int ?? -1
                    if seq != nextSeq { result.seqGaps.append("file \(result.files): seq \(seq), expected \(nextSeq)") }
                    nextSeq = seq + 1
                    guard let id = obj["request_id"] as? String else { continue }
                    if !seen.insert(id).inserted { result.duplicates.append(id) }
                    result.ids.append(id)
                }
            }
        }
        var seenInodes = Set<ino_t>()
        func openCurrent() -> Bool {
            let f = open(path, O_RDONLY | O_CLOEXEC)
            guard f >= 0 else { return false }
            var st = stat()
            fstat(f, &st)
            fd = f
            inode = st.st_ino
            seenInodes.insert(inode)
            pending.removeAll()
            nextSeq = 0
            result.files += 1
            return true
        }
        /// Files rotated away before this tailer ever opened them (a starved thread on a busy
        /// machine): read whole, oldest first, the way collectors that watch the glob do.
        func readMissedRotations() {
            let dir = (path as NSString).deletingLastPathComponent
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            let rotated = names.filter { $0.hasPrefix("records-") && $0.hasSuffix(".jsonl") }.sorted {
                Int($0.split(separator: "-").last!.dropLast(6)) ?? 0 < Int($1.split(separator: "-").last!.dropLast(6))
                    ?? 0
            }
            for name in rotated {
                let f = open(dir + "/" + name, O_RDONLY | O_CLOEXEC)
                guard f >= 0 else { continue }
                var st = stat()
                fstat(f, &st)
                guard seenInodes.insert(st.st_ino).inserted else {
                    close(f)
                    continue
                }
                fd = f
                pending.removeAll()
                nextSeq = 0
                result.files += 1
                consume()
                close(f)
                fd = -1
            }
        }
        while true {
            let last = stopping.withLock { $0 }
            if fd < 0 {
                if !openCurrent() {
                    if last { return }
                    usleep(1000)
                    continue
                }
            }
            consume()
            var st = stat()
            if stat(path, &st) == 0 && st.st_ino != inode {
                consume()  // the rotated file, to its end
                close(fd)
                fd = -1
                readMissedRotations()
                continue
            }
            if last {
                consume()
                close(fd)
                // A file that was active, and rotated away, between a listing of the rotated
                // files and the next open of the active one has not been read yet.
                readMissedRotations()
                return
            }
            usleep(2000)
        }
    }
}

/// `modelflag records query|stats` over files a real sidecar wrote.
@Suite(.serialized) struct RecordsCLITests {
    func run(_ args: [String]) throws -> (Int32, String) { try runBinary(args) }

    @Test func queryAndStatsFilterTheRecords() throws {
        let dir = NSTemporaryDirectory() + "modelflag-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let stack = try Stack(proxyArgs: ["--records-dir", dir])
        let c = try Client(port: stack.port)
        for i in 0..<10 { _ = try c.request(chatRequest(extra: "X-Request-Id: ok-\(i)\r\n")) }
        _ = try c.request(chatRequest(extra: "X-Request-Id: bad-1\r\nX-StandIn-Fault: reset\r\n"))
        stack.proxy.signal(SIGTERM)
        #expect(stack.proxy.wait(timeout: 10) == 0)

        let (rc1, errors) = try run(["records", "query", "--dir", dir, "--outcome", "upstream_error"])
        #expect(rc1 == 0)
        let lines = errors.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.contains("\"request_id\":\"bad-1\"") == true)

        let (_, one) = try run(["records", "query", "--dir", dir, "--request-id", "ok-3"])
        #expect(one.split(separator: "\n").count == 1)

        let (_, none) = try run(["records", "query", "--dir", dir, "--since", "2999-01-01T00"])
        #expect(none.isEmpty)

        let (rc2, stats) = try run(["records", "stats", "--dir", dir])
        #expect(rc2 == 0)
        #expect(stats.contains("requests"))
        let row = stats.split(separator: "\n").dropFirst().first.map(String.init) ?? ""
        let columns = row.split(separator: "\t").map(String.init)
        try #require(columns.count >= 7, "stats printed: \(stats)")
        #expect(columns[2] == "served")
        #expect(columns[3] == "-")
        #expect(columns[5] == "11")
        #expect(columns[6] == "1")
    }

    /// `--request-id` finds exactly that record, also where ids share a prefix, where another field
    /// holds the id's text, where the id needs escaping (every line is parsed then), and next to a
    /// damaged line that holds the id (skipped and reported, not printed).
    @Test func requestIdFindsExactlyItsRecord() throws {
        let dir = NSTemporaryDirectory() + "modelflag-rid-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func record(_ seq: Int, _ id: String, path: String = "/v1/chat/completions") -> String {
            #"{"seq":\#(seq),"schema":"modelflag.record/v1","ts":"2026-11-25T10:00:00.000Z","request_id":"\#(id)","role":"served","path":"\#(path)","status":200,"outcome":"ok","latency_ms":1.0}"#
        }
        try writeRecordFile(
            [
                record(1, "a-1"), record(2, "a-10"), record(3, "b", path: #"/x/\"request_id\":\"a-1\""#),
                record(4, #"q\"1"#), #"{"seq":5,"request_id":"a-1","#, record(6, "a-100"),
            ], in: dir)
        func ids(_ want: String) throws -> [String] {
            let (rc, out) = try runBinary(["records", "query", "--dir", dir, "--request-id", want])
            #expect(rc == 0)
            return try out.split(separator: "\n").map {
                try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])["request_id"]
                    as? String
                    ?? "?"
            }
        }
        #expect(try ids("a-1") == ["a-1"])
        #expect(try ids("a-10") == ["a-10"])
        #expect(try ids(#"q"1"#) == [#"q"1"#])
        #expect(try ids("a-2").isEmpty)
        let (_, both) = try runBinary(["records", "query", "--dir", dir, "--request-id", "a-1"], withStderr: true)
        #expect(both.contains("1 line(s) are not JSON records"), "\(both)")
    }

    /// Exact-value filters look for `"key":"value"` before parsing: a value found under another
    /// key (or in a nested object) never selects a record, and filters combine.
    @Test func exactFiltersMatchTheirOwnKeyOnly() throws {
        let dir = NSTemporaryDirectory() + "modelflag-exact-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func record(_ id: String, role: String, variant: String, version: String, extra: String = "") -> String {
            #"{"seq":1,"schema":"modelflag.record/v1","ts":"2026-11-25T10:00:00.000Z","request_id":"\#(id)","role":"\#(role)","flag":"chat","variant":"\#(variant)","model_version":"\#(version)","status":200,"outcome":"ok"\#(extra),"latency_ms":1.0}"#
        }
        try writeRecordFile(
            [
                record("A", role: "served", variant: "x", version: "y"),
                record("B", role: "shadow", variant: "y", version: "x"),
                record("C", role: "gated", variant: "z", version: "z", extra: #","gate":{"variant":"x"}"#),
            ], in: dir)
        func ids(_ filters: [String]) throws -> [String] {
            let (rc, out) = try runBinary(["records", "query", "--dir", dir] + filters)
            #expect(rc == 0)
            return out.split(separator: "\n").compactMap { Spawned.field(String($0), "request_id") }
        }
        #expect(try ids(["--variant", "x"]) == ["A"])
        #expect(try ids(["--model-version", "x"]) == ["B"])
        #expect(try ids(["--model-version", "x", "--variant", "y", "--role", "shadow"]) == ["B"])
        #expect(try ids(["--model-version", "x", "--variant", "x"]) == [])
        #expect(try ids(["--flag", "chat", "--outcome", "ok"]) == ["A", "B", "C"])
        #expect(try ids(["--variant", "z"]) == ["C"])
    }

    /// Quarantine a deployment window, then export only the records fit for training.
    @Test func quarantineAndExportAgainstAFixture() throws {
        let dir = NSTemporaryDirectory() + "modelflag-q-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var lines: [String] = []
        for (i, (ts, version)) in [
            ("2026-11-25T10:00:00.000Z", "v1"), ("2026-11-25T10:30:00.000Z", "v2"), ("2026-11-25T11:00:00.000Z", "v2"),
            ("2026-11-25T11:30:00.000Z", "v1"), ("2026-11-25T12:30:00.000Z", "v2"),
        ].enumerated() {
            lines.append(
                #"{"seq":\#(i + 1),"schema":"modelflag.record/v1","ts":"\#(ts)","request_id":"r\#(i)","role":"served","flag":"chat","variant":"x","model_version":"\#(version)","status":200,"outcome":"ok","latency_ms":1.0}"#
            )
        }
        try writeRecordFile(lines, in: dir)
        let (rc, _) = try run([
            "records", "quarantine", "--dir", dir, "--model-version", "v2", "--from", "2026-11-25T10:15:00Z",
            "--to", "2026-11-25T12:00:00Z", "--reason", "bad deploy", "--by", "oncall",
        ])
        #expect(rc == 0)
        let (rc2, _) = try run([
            "records", "quarantine", "--dir", dir, "--model-version", "v9", "--from", "2026-11-26T00:00:00Z",
            "--to", "2026-11-25T00:00:00Z", "--reason", "backwards",
        ])
        #expect(rc2 != 0)  // refused: from after to
        let history = try String(contentsOfFile: dir + "/quarantine.jsonl", encoding: .utf8)
        #expect(history.split(separator: "\n").count == 1)
        #expect(history.contains("\"reason\":\"bad deploy\"") && history.contains("\"by\":\"oncall\""))

        let (_, all) = try run(["records", "export", "--dir", dir])
        #expect(all.split(separator: "\n").count == 5)
        let (_, fit) = try run(["records", "export", "--dir", dir, "--exclude-quarantined"])
        let ids = fit.split(separator: "\n").compactMap { Spawned.field(String($0), "request_id") }
        #expect(ids == ["r0", "r3", "r4"])  // v2 inside the window (r1, r2) is skipped; r4 is after it
        let (_, v1Only) = try run(["records", "export", "--dir", dir, "--exclude-quarantined", "--model-version", "v1"])
        #expect(v1Only.split(separator: "\n").count == 2)
    }
}

extension RecordsCLITests {
    /// `records stats` percentiles come from a sketch (memory bounded by the groups, not the
    /// records): within 3 % of the exact order statistics, the maximum exact.
    @Test func statsPercentilesAreWithinTheSketchAccuracy() throws {
        let dir = NSTemporaryDirectory() + "modelflag-pct-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var lines: [String] = []
        for i in 1...1000 {
            lines.append(
                #"{"seq":\#(i),"ts":"2026-11-25T10:00:00.000Z","request_id":"r\#(i)","role":"served","flag":"chat","variant":"x","model_version":"v1","status":200,"outcome":"ok","latency_ms":\#(Double(i) + 0.5)}"#
            )
        }
        try writeRecordFile(lines, in: dir)
        let (rc, out) = try run(["records", "stats", "--dir", dir])
        #expect(rc == 0)
        let columns = try #require(out.split(separator: "\n").dropFirst().first).split(separator: "\t").map(String.init)
        try #require(columns.count == 11, "\(out)")
        #expect(columns[5] == "1000")
        for (column, exact) in [(7, 500.5), (8, 900.5), (9, 990.5)] {
            let v = try #require(Double(columns[column]))
            #expect(abs(v - exact) / exact <= 0.03, "column \(column): \(v) against \(exact)")
        }
        #expect(columns[10] == "1000.5")
    }

    /// Rotated files are 64 MiB by default: the CLI reads files of any size (it once skipped
    /// files over 16 MiB without a word), and a file it cannot read is an error, never a quiet gap.
    @Test func bigRotatedFilesAreReadWhole() throws {
        let dir = NSTemporaryDirectory() + "modelflag-big-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let padding = String(repeating: "p", count: 700)
        let n = 21_000  // about 17 MiB: over the 16 MiB the CLI once stopped at
        var text = #"{"seq":0,"type":"file_header","schema":"modelflag.records/v1","file_id":"big"}"# + "\n"
        text.reserveCapacity(n * 820)
        for i in 1...n {
            text +=
                #"{"seq":\#(i),"schema":"modelflag.record/v1","ts":"2026-11-25T10:00:00.000Z","request_id":"r\#(i)","role":"served","flag":"chat","variant":"x","model_version":"v\#(i % 2)","status":200,"outcome":"ok","latency_ms":1.0,"pad":"\#(padding)"}"#
                + "\n"
        }
        try text.write(toFile: dir + "/records-20261125T100000Z-1.jsonl", atomically: true, encoding: .utf8)
        try (#"{"seq":0,"type":"file_header","schema":"modelflag.records/v1","file_id":"active"}"# + "\n").write(
            toFile: dir + "/records.jsonl", atomically: true, encoding: .utf8)
        let (rc, out) = try run(["records", "export", "--dir", dir, "--model-version", "v1"])
        #expect(rc == 0)
        #expect(out.split(separator: "\n").count == n / 2)
        let (_, stats) = try run(["records", "stats", "--dir", dir])
        #expect(stats.contains("chat\tx\tserved\t-\tv0\t\(n / 2)\t0"), "\(stats)")

        // Unreadable: a directory where a record file should be.
        try FileManager.default.createDirectory(
            atPath: dir + "/records-20261125T110000Z-2.jsonl", withIntermediateDirectories: false)
        let (rc2, out2) = try runBinary(["records", "export", "--dir", dir], withStderr: true)
        #expect(rc2 != 0)
        #expect(out2.contains("cannot read"), "\(out2)")
    }
}

/// E48 on a real full disk: a tiny tmpfs as the records directory (needs root to mount; CI runs
/// as root). Traffic is unaffected, drops are counted, no partial line is left, and writing
/// resumes when the disk grows.
@Suite(.serialized) struct RecordsFullDiskTests {
    static func sh(_ args: [String]) -> Int32 {
        guard let pid = try? Spawned.spawn(args, stdout: "/dev/null", stderr: "/dev/null") else { return -1 }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return status
    }

    static let canMount: Bool = {
        let dir = NSTemporaryDirectory() + "modelflag-mount-probe-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        guard sh(["/bin/mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]) == 0 else { return false }
        _ = sh(["/bin/umount", dir])
        return true
    }()

    @Test(.enabled(if: canMount, "mounting a tmpfs needs root")) func aFullDiskDropsRecordsNotRequests() throws {
        let dir = NSTemporaryDirectory() + "modelflag-full-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        #expect(Self.sh(["/bin/mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", dir]) == 0)
        defer {
            _ = Self.sh(["/bin/umount", "-l", dir])
            try? FileManager.default.removeItem(atPath: dir)
        }
        let stack = try Stack(proxyArgs: ["--records-dir", dir, "--records-fsync", "always"])
        let c = try Client(port: stack.port)
        for i in 0..<400 {
            #expect(try c.request(chatRequest(extra: "X-Request-Id: full-\(i)\r\n")).status == 200)
        }
        usleep(300_000)
        let dropped = try stack.metric("modelflag_records_dropped_total{reason=\"write_error\"}")
        let written = try stack.metric("modelflag_records_written_total")
        #expect(dropped > 0)
        #expect(written > 0)
        #expect(written + dropped == 400)
        // The disk grows: writing resumes by itself.
        #expect(Self.sh(["/bin/mount", "-o", "remount,size=2m", dir]) == 0)
        for i in 0..<50 {
            #expect(try c.request(chatRequest(extra: "X-Request-Id: after-\(i)\r\n")).status == 200)
        }
        usleep(300_000)
        #expect(try stack.metric("modelflag_records_written_total") == written + 50)
        stack.proxy.signal(SIGTERM)
        #expect(stack.proxy.wait(timeout: 10) == 0)
        // Every line is whole: the file ends with a newline and each line parses.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/records.jsonl"))
        #expect(bytes.last == 0x0A)
        let records = try RecordsIntegrationTests().readRecords(dir)
        #expect(records.count == Int(written) + 50)
        #expect(records.filter { ($0["request_id"] as? String)?.hasPrefix("after-") == true }.count == 50)
    }
}

/// `modelflag gate` over a fixture of shadow records: the candidate agrees with stable on FAQs
/// and not on escalations; the gate passes `faq`, fails `escalation` and refuses to promote.
@Suite(.serialized) struct GateCLITests {
    @Test func gateNamesTheFailingSegment() throws {
        let dir = NSTemporaryDirectory() + "modelflag-gate-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var lines: [String] = []
        var seq = 1
        for i in 0..<400 {
            let escalation = i % 2 == 0
            let rouge = escalation ? 0.2 + Double(i % 10) / 100 : 0.85 + Double(i % 10) / 100
            lines.append(
                #"{"seq":\#(seq),"schema":"modelflag.record/v1","ts":"2026-11-25T10:00:00.000Z","request_id":"r\#(i)","role":"shadow","flag":"chat","variant":"candidate","served_variant":"stable","model_version":"v2","segments":["\#(escalation ? "escalation" : "faq")"],"status":200,"outcome":"ok","scores":{"rouge_l":\#(rouge),"exact_match":false,"shadow_refusal":false,"status_match":true}}"#
            )
            seq += 1
        }
        try writeRecordFile(lines, in: dir)
        let rules = """
            {
              "upstreams": {"stable": {"address": "127.0.0.1:9", "modelVersion": "v1"},
                            "candidate": {"address": "127.0.0.1:10", "modelVersion": "v2"}},
              "defaultUpstream": "stable",
              "$evaluators": {"faq": {"==": [{"var": "body.intent"}, "faq"]},
                              "escalation": {"==": [{"var": "body.intent"}, "escalation"]}},
              "flags": {"chat": {"state": "ENABLED", "variants": {"stable": "stable", "candidate": "candidate"},
                "defaultVariant": "stable",
                "targeting": {"if": [{"$ref": "escalation"}, "stable", {"$ref": "faq"}, "candidate", "stable"]},
                "gates": [{"metric": "rouge_l", "min": 0.5, "minSamples": 100}, {"metric": "error_rate", "max": 0.5, "minSamples": 100}]}}
            }
            """
        let rulesPath = dir + "/rules.json"
        try rules.write(toFile: rulesPath, atomically: true, encoding: .utf8)
        let (rc, out) = try runBinary(["gate", "--rules", rulesPath, "--source", "records:\(dir)"])
        #expect(rc == 1, "\(out)")
        let rows = out.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        func verdict(_ segment: String, _ gate: String) -> String? {
            rows.first { $0.count == 9 && $0[2] == segment && $0[3] == gate }?[8]
        }
        #expect(verdict("faq", "rouge_l") == "PASS")
        #expect(verdict("escalation", "rouge_l") == "FAIL")
        #expect(verdict("faq", "error_rate") == "PASS")
        let escalation = try #require(rows.first { $0.count == 9 && $0[2] == "escalation" && $0[3] == "rouge_l" })
        #expect(escalation[4] == "200")
        #expect(Double(escalation[5]) ?? 1 < 0.3)
        // Only FAQ records: every gate of the FAQ segment passes, escalation has no data (inconclusive).
        let (rc2, _) = try runBinary(["gate", "--rules", rulesPath, "--source", "records:\(dir)", "--since", "2027"])
        #expect(rc2 == 2)
        // With --apply, the failing segment is blocked (the healthy one may go on; here `*` is
        // still inconclusive, so the stage stays), bytes around the edit kept.
        let withRollout = rules.replacingOccurrences(
            of: #""gates": ["#,
            with: #""rollout": {"variant": "candidate", "stage": 0, "stages": [{"faq": 5}, {"faq": 25}]}, "gates": ["#)
        try withRollout.write(toFile: rulesPath, atomically: true, encoding: .utf8)
        let (rcApply, applied) = try runBinary(["gate", "--rules", rulesPath, "--source", "records:\(dir)", "--apply"])
        #expect(rcApply == 1)
        #expect(applied.contains("blocked escalation"), "\(applied)")
        let after = try String(contentsOfFile: rulesPath, encoding: .utf8)
        #expect(
            after
                == withRollout.replacingOccurrences(of: #""stage": 0"#, with: #""stage": 0, "blocked": ["escalation"]"#)
        )
        // When the gate over all requests fails, the rollout goes back to stage -1.
        let strict = withRollout.replacingOccurrences(of: #""min": 0.5"#, with: #""min": 0.8"#)
        try strict.write(toFile: rulesPath, atomically: true, encoding: .utf8)
        let (rcStrict, _) = try runBinary(["gate", "--rules", rulesPath, "--source", "records:\(dir)", "--apply"])
        #expect(rcStrict == 1)
        #expect(
            try String(contentsOfFile: rulesPath, encoding: .utf8)
                == strict.replacingOccurrences(of: #""stage": 0"#, with: #""stage": -1"#))
        // An unknown source is a usage error (64), never a verdict.
        let (rc3, _) = try runBinary(["gate", "--rules", rulesPath, "--source", "influx://x:8086"])
        #expect(rc3 == 64)
    }
}

/// Lines that are not records (a torn last line, garbage) are skipped and reported per file, by
/// the gate's field scanner as by the JSON reader of `records query`; the rest still counts.
extension GateCLITests {
    /// A rules file for the gate tests over record files: flag `chat`, FAQ traffic to the
    /// candidate, the given gates (a JSON array).
    static func faqGateRules(gates: String) -> String {
        """
        {
          "upstreams": {"stable": {"address": "127.0.0.1:9", "modelVersion": "v1"},
                        "candidate": {"address": "127.0.0.1:10", "modelVersion": "v2"}},
          "defaultUpstream": "stable",
          "$evaluators": {"faq": {"==": [{"var": "body.intent"}, "faq"]}},
          "flags": {"chat": {"state": "ENABLED", "variants": {"stable": "stable", "candidate": "candidate"},
            "defaultVariant": "stable", "targeting": {"if": [{"$ref": "faq"}, "candidate", "stable"]},
            "gates": \(gates)}}
        }
        """
    }

    @Test func linesThatAreNotRecordsAreSkippedAndReported() throws {
        let dir = NSTemporaryDirectory() + "modelflag-torn-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var lines = (1...150).map { i in
            #"{"seq":\#(i),"schema":"modelflag.record/v1","ts":"2026-11-25T10:00:00.000Z","request_id":"r\#(i)","role":"shadow","flag":"chat","variant":"candidate","segments":["faq"],"status":200,"outcome":"ok","scores":{"rouge_l":0.9}}"#
        }
        lines.insert("not a record", at: 70)
        lines.append(#"{"seq":151,"role":"shadow","flag":"ch"#)
        try writeRecordFile(lines, in: dir)
        let rulesPath = dir + "/rules.json"
        try GateCLITests.faqGateRules(gates: #"[{"metric": "rouge_l", "min": 0.5, "minSamples": 100}]"#)
            .write(toFile: rulesPath, atomically: true, encoding: .utf8)
        let (_, gate) = try runBinary(
            ["gate", "--rules", rulesPath, "--source", "records:\(dir)"], withStderr: true)
        #expect(gate.contains("records.jsonl: 2 line(s) are not JSON records and were skipped"), "\(gate)")
        let faq = gate.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
            .first { $0.count == 9 && $0[2] == "faq" && $0[3] == "rouge_l" }
        #expect(faq?[4] == "150")
        let (_, query) = try runBinary(["records", "query", "--dir", dir], withStderr: true)
        #expect(query.contains("records.jsonl: 2 line(s) are not JSON records and were skipped"))
        #expect(query.split(separator: "\n").filter { $0.hasPrefix("{") }.count == 150)
    }
}

/// `modelflag gate --apply` over passing records moves the rollout to its next stage.
extension GateCLITests {
    /// Tails and stable's own figures: a candidate whose latency is fine on average but slow for
    /// one request in ten, and whose answers are good on average with a bad fifth, fails the tail
    /// gates its means would pass; error rates are judged against stable's own.
    @Test func tailGatesAndStableAsTheYardstick() throws {
        let dir = NSTemporaryDirectory() + "modelflag-tails-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var lines: [String] = []
        func add(_ role: String, _ variant: String, latency: Double, outcome: String = "ok", rouge: Double? = nil) {
            let scores = rouge.map { #","scores":{"rouge_l":\#($0)}"# } ?? ""
            lines.append(
                #"{"seq":\#(lines.count + 1),"ts":"2026-11-25T10:00:00.000Z","request_id":"r\#(lines.count)","role":"\#(role)","flag":"chat","variant":"\#(variant)","segments":["faq"],"status":200,"outcome":"\#(outcome)","latency_ms":\#(latency)\#(scores)}"#
            )
        }
        for i in 0..<2000 {
            add("served", "stable", latency: i % 100 == 0 ? 3000 : 100, outcome: i % 100 == 1 ? "upstream_error" : "ok")
            add("served", "candidate", latency: i % 5 == 0 ? 3000 : 50, outcome: i % 100 == 1 ? "upstream_error" : "ok")
            add("shadow", "candidate", latency: 50, rouge: i % 5 == 0 ? 0.1 : 0.95)
        }
        try writeRecordFile(lines, in: dir)
        let rules = GateCLITests.faqGateRules(
            gates: """
                [
                  {"metric": "latency_ms", "above": 2000, "max": 0.02, "minSamples": 100},
                  {"metric": "latency_ms", "above": 2000, "vsStable": 0, "minSamples": 100},
                  {"metric": "rouge_l", "min": 0.7, "minSamples": 100},
                  {"metric": "rouge_l", "below": 0.3, "max": 0.05, "minSamples": 100},
                  {"metric": "error_rate", "vsStable": 0.05, "minSamples": 100}
                ]
                """)
        let rulesPath = dir + "/rules.json"
        try rules.write(toFile: rulesPath, atomically: true, encoding: .utf8)
        let (rc, out) = try runBinary(["gate", "--rules", rulesPath, "--source", "records:\(dir)"])
        #expect(rc == 1, "\(out)")
        let rows = out.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        func row(_ gate: String, _ needs: String? = nil) -> [String]? {
            rows.first { $0.count == 9 && $0[2] == "faq" && $0[3] == gate && (needs.map($0[7].contains) ?? true) }
        }
        // A fifth of the candidate's served requests (a tenth of its exchanges, shadows included)
        // are slower than 2 s; stable's 1 %.
        #expect(row("latency_ms>2000", "<= 0.02")?[8] == "FAIL", "\(out)")
        #expect(row("latency_ms>2000", "<= 0.02")?[4] == "4000")
        #expect(row("latency_ms>2000", "stable")?[8] == "FAIL", "\(out)")
        #expect(row("latency_ms>2000", "stable")?[7].contains("stable n 2000") == true, "\(out)")
        // The mean ROUGE-L (0.78) passes; its low tail (a fifth under 0.3) does not.
        #expect(row("rouge_l")?[8] == "PASS", "\(out)")
        #expect(row("rouge_l<0.3")?[8] == "FAIL", "\(out)")
        #expect(row("rouge_l<0.3")?[5] == "0.2")
        // 1 % errors on both sides: not worse than stable by 5 points.
        #expect(row("error_rate", "stable")?[8] == "PASS", "\(out)")
    }
}

@Suite(.serialized) struct GateApplyTests {
    @Test func passingGatesAdvanceTheStage() throws {
        let dir = NSTemporaryDirectory() + "modelflag-apply-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var lines: [String] = []
        for i in 0..<300 {
            lines.append(
                #"{"seq":\#(i + 1),"ts":"2026-11-25T10:00:00.000Z","request_id":"r\#(i)","role":"shadow","flag":"chat","variant":"candidate","segments":["faq"],"status":200,"outcome":"ok","scores":{"rouge_l":0.95}}"#
            )
        }
        try writeRecordFile(lines, in: dir)
        let rules = """
            {
              "upstreams": {"stable": {"address": "127.0.0.1:9", "modelVersion": "v1"},
                            "candidate": {"address": "127.0.0.1:10", "modelVersion": "v2"}},
              "defaultUpstream": "stable",
              "$evaluators": {"faq": {"==": [{"var": "body.intent"}, "faq"]}},
              "flags": {"chat": {"state": "ENABLED", "variants": {"stable": "stable", "candidate": "candidate"},
                "defaultVariant": "stable", "targeting": {"if": [{"$ref": "faq"}, null, null]},
                "rollout": {"variant": "candidate", "stage": 0, "stages": [{"faq": 5}, {"faq": 25}, {"*": 100}]},
                "gates": [{"metric": "rouge_l", "min": 0.5, "minSamples": 100}]}}
            }
            """
        let path = dir + "/rules.json"
        try rules.write(toFile: path, atomically: true, encoding: .utf8)
        let (rc, out) = try runBinary(["gate", "--rules", path, "--source", "records:\(dir)", "--apply"])
        #expect(rc == 0, "\(out)")
        #expect(out.contains("rollout stage 0 -> 1"))
        #expect(
            try String(contentsOfFile: path, encoding: .utf8)
                == rules.replacingOccurrences(of: #""stage": 0"#, with: #""stage": 1"#))
        // The sidecar's check accepts the edited file.
        let (rcCheck, _) = try runBinary(["check", path])
        #expect(rcCheck == 0)
    }
}
