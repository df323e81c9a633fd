import Foundation
import Testing

/// E44 with a real log collector: Debian's rsyslog (`imfile` in inotify mode, the way it is
/// configured to ship a file) tails the sidecar's records while they rotate several times a
/// second under load, and forwards every line exactly once.
@Suite(.serialized) struct CollectorTests {
    static let rsyslogd = installedProgram("/usr/sbin/rsyslogd", "/usr/bin/rsyslogd")

    /// rsyslogd in the foreground, tailing `records`/records.jsonl into `out`; stopped on deinit.
    final class Rsyslog: @unchecked Sendable {
        let process: ExternalProcess

        init(tailing records: String, into out: String, dir: String) throws {
            try FileManager.default.createDirectory(atPath: dir + "/work", withIntermediateDirectories: true)
            let config = """
                global(workDirectory="\(dir)/work" maxMessageSize="64k")
                module(load="imfile" mode="inotify")
                input(type="imfile" file="\(records)/records.jsonl" tag="modelflag" ruleset="records"
                      freshStartTail="off" reopenOnTruncate="off")
                template(name="line" type="string" string="%rawmsg%\\n")
                ruleset(name="records") { action(type="omfile" file="\(out)" template="line") }
                """
            try config.write(toFile: dir + "/rsyslog.conf", atomically: true, encoding: .utf8)
            process = try ExternalProcess(
                [CollectorTests.rsyslogd!, "-n", "-f", dir + "/rsyslog.conf", "-i", dir + "/rsyslog.pid"], logsIn: dir)
        }

        var errors: String { process.errors }
    }

    static func lines(_ path: String) -> [Substring] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n")
    }

    @Test(.enabled(if: rsyslogd != nil, "needs Debian's rsyslog: scripts/test installs it"))
    func rsyslogShipsEveryRecordOnceAcrossRotations() throws {
        let dir = NSTemporaryDirectory() + "modelflag-collector-\(UUID().uuidString)"
        let records = dir + "/records"
        try FileManager.default.createDirectory(atPath: records, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let stack = try Stack(proxyArgs: [
            "--records-dir", records, "--records-max-file-age", "250ms", "--records-retain-files", "0",
        ])
        let shipped = dir + "/shipped.jsonl"
        let collector = try Rsyslog(tailing: records, into: shipped, dir: dir + "/rsyslog")
        let ids = chatLoad(port: stack.port, seconds: 3)
        stack.proxy.signal(SIGTERM)  // writes what is queued, fsyncs, closes the file
        #expect(stack.proxy.wait(timeout: 10) == 0)
        let files = try FileManager.default.contentsOfDirectory(atPath: records).filter { $0.hasSuffix(".jsonl") }
        let onDisk = files.flatMap { Self.lines(records + "/" + $0) }.sorted()
        // The collector catches up within seconds; wait for it rather than for a fixed time.
        let deadline = Date().addingTimeInterval(20)
        while Self.lines(shipped).count < onDisk.count && Date() < deadline { usleep(100_000) }
        let out = Self.lines(shipped)
        #expect(ids.count > 500)
        #expect(files.count > 5, "rotations: \(files.count) files")
        #expect(
            out.count == onDisk.count, "shipped \(out.count) of \(onDisk.count) lines; rsyslog: \(collector.errors)")
        // Every line once, byte for byte: file headers (one per file) and records alike.
        let sameLines = out.sorted() == onDisk
        let missing = Set(onDisk).subtracting(out)
        #expect(
            sameLines,
            "\(missing.count) lines missing, \(out.count - Set(out).count) shipped twice; e.g. \(missing.prefix(2))")
        var shippedIds = Set<String>()
        for line in out {
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            if let id = obj?["request_id"] as? String { shippedIds.insert(id) }
        }
        let sameIds = shippedIds == ids
        #expect(sameIds, "\(shippedIds.symmetricDifference(ids).count) request ids differ")
    }
}
