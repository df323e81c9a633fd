import Foundation
import Testing

/// Reliability cases F49–F51: the rules file changes in every way a shared volume changes it, and
/// the proxy applies each valid version, refuses each broken one, and never fails a request.
@Suite(.serialized) struct RulesReloadTests {
    /// Rules sending every chat request to `variant` (stable or candidate).
    static func rules(_ f: RulesRoutingTests.Fleet, to variant: String) -> String {
        RulesRoutingTests.Fleet.rules(
            stable: f.stable.port("stand-in"), candidate: f.candidate.port("stand-in"),
            flags: """
                {"chat-model": {"state": "ENABLED", "variants": {"stable": "stable", "candidate": "candidate"},
                 "defaultVariant": "stable", "targeting": {"if": [true, "\(variant)"]}}}
                """)
    }

    func variant(_ port: UInt16) throws -> String? {
        let c = try Client(port: port)
        return try c.request(chatRequest()).header("x-modelflag-variant")
    }

    /// Waits (up to 5 s) until requests go to `expected`.
    func waitFor(_ expected: String, _ port: UInt16) throws -> Bool {
        for _ in 0..<100 {
            if try variant(port) == expected { return true }
            usleep(50_000)
        }
        return false
    }

    func rulesStatus(_ fleet: RulesRoutingTests.Fleet) throws -> String {
        let c = try Client(port: fleet.proxy.port("admin"))
        return try c.request("GET /rules HTTP/1.1\r\nHost: a\r\n\r\n").bodyText
    }

    /// Waits (up to 5 s) until `/rules` contains `text`.
    func waitForStatus(_ fleet: RulesRoutingTests.Fleet, containing text: String) throws -> Bool {
        for _ in 0..<100 {
            if try rulesStatus(fleet).contains(text) { return true }
            usleep(50_000)
        }
        return false
    }

    func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: false, encoding: .utf8)
    }

    @Test func writeAndRenameApplies() throws {
        let fleet = try RulesRoutingTests.Fleet(flags: RulesRoutingTests.segmentFlags)
        let port = fleet.proxy.port("proxy")
        for target in ["candidate", "stable", "candidate"] {
            let tmp = fleet.rulesPath + ".tmp"
            try write(Self.rules(fleet, to: target), to: tmp)
            #expect(rename(tmp, fleet.rulesPath) == 0)
            #expect(try waitFor(target, port), "rename to \(target) not applied")
        }
        #expect(fleet.proxy.log.contains("\"event\":\"rules_reloaded\""))
    }

    @Test func halfWrittenFileIsNeverApplied() throws {
        let fleet = try RulesRoutingTests.Fleet(flags: RulesRoutingTests.segmentFlags)
        let port = fleet.proxy.port("proxy")
        try write(Self.rules(fleet, to: "stable"), to: fleet.rulesPath)
        #expect(try waitFor("stable", port))
        let full = Array(Self.rules(fleet, to: "candidate").utf8)
        // Truncate and write the first half; wait past the debounce; then the rest.
        let fd = open(fleet.rulesPath, O_WRONLY | O_TRUNC | O_CLOEXEC)
        _ = full.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, full.count / 2) }
        #expect(try waitForStatus(fleet, containing: "\"lastReloadSuccessful\":false"))
        #expect(try variant(port) == "stable")
        _ = full.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + full.count / 2, full.count - full.count / 2) }
        close(fd)
        #expect(try waitFor("candidate", port))
    }

    @Test func invalidThenValidAndDeletedThenRecreated() throws {
        let fleet = try RulesRoutingTests.Fleet(flags: RulesRoutingTests.segmentFlags)
        let port = fleet.proxy.port("proxy")
        try write(Self.rules(fleet, to: "candidate"), to: fleet.rulesPath)
        #expect(try waitFor("candidate", port))
        let before = try rulesStatus(fleet)
        // Invalid JSON: refused, the last good rules stay, /rules shows the error.
        try write("{\"upstreams\": ", to: fleet.rulesPath)
        #expect(try waitForStatus(fleet, containing: "invalid JSON"))
        #expect(try variant(port) == "candidate")
        let status = try rulesStatus(fleet)
        #expect(status.contains("invalid JSON"))
        #expect(status.contains("\"failures\":"))
        #expect(!status.contains("\"failures\":0"))
        // Empty file: refused too, never read as "no flags".
        try write("", to: fleet.rulesPath)
        #expect(try waitForStatus(fleet, containing: "the file is empty"))
        #expect(try variant(port) == "candidate")
        // Deleted: still the last good rules.
        unlink(fleet.rulesPath)
        #expect(try waitForStatus(fleet, containing: "missing or unreadable"))
        #expect(try variant(port) == "candidate")
        // Re-created valid: applies.
        try write(Self.rules(fleet, to: "stable"), to: fleet.rulesPath)
        #expect(try waitFor("stable", port))
        #expect(try rulesStatus(fleet) != before)
        let c = try Client(port: fleet.proxy.port("admin"))
        let metrics = try c.request("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n").bodyText
        #expect(metrics.contains("modelflag_rules_reload_failures_total"))
        #expect(metrics.contains("modelflag_rules_info{revision="))
    }

    /// Kubernetes AtomicWriter: `rules.json -> ..data/rules.json`, `..data -> ..TIMESTAMP`; an
    /// update writes a new timestamped dir and renames a `..data_tmp` symlink over `..data`.
    @Test func configMapSymlinkSwapAppliesEveryTime() throws {
        let stable = try standIn("stable-v1")
        let candidate = try standIn("candidate-v2")
        let dir = NSTemporaryDirectory() + "modelflag-cm-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func rulesText(_ v: String) -> String {
            RulesRoutingTests.Fleet.rules(
                stable: stable.port("stand-in"), candidate: candidate.port("stand-in"),
                flags:
                    #"{"chat-model": {"state": "ENABLED", "variants": {"stable": "stable", "candidate": "candidate"}, "defaultVariant": "stable", "targeting": {"if": [true, "\#(v)"]}}}"#
            )
        }
        var generation = 0
        func publish(_ v: String) throws {
            generation += 1
            let ts = "..2026_11_25_00_00_\(generation)"
            try FileManager.default.createDirectory(atPath: "\(dir)/\(ts)", withIntermediateDirectories: false)
            try rulesText(v).write(toFile: "\(dir)/\(ts)/rules.json", atomically: false, encoding: .utf8)
            symlink(ts, "\(dir)/..data_tmp")
            rename("\(dir)/..data_tmp", "\(dir)/..data")
            if generation > 1 {
                try? FileManager.default.removeItem(atPath: "\(dir)/..2026_11_25_00_00_\(generation - 1)")
            }
        }
        try publish("stable")
        symlink("..data/rules.json", "\(dir)/rules.json")
        let proxy = try Spawned(
            ["run", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--rules", "\(dir)/rules.json"],
            roles: ["proxy", "admin"])
        let port = proxy.port("proxy")
        #expect(try variant(port) == "stable")
        for round in 0..<10 {
            let target = round % 2 == 0 ? "candidate" : "stable"
            try publish(target)
            #expect(try waitFor(target, port), "swap \(round + 1) to \(target) not applied")
        }
    }

    /// F51: requests keep flowing (none fail) while the rules change under them.
    @Test func reloadsUnderLoadFailNoRequest() throws {
        let fleet = try RulesRoutingTests.Fleet(flags: RulesRoutingTests.segmentFlags)
        let port = fleet.proxy.port("proxy")
        final class Counts: @unchecked Sendable {
            let lock = NSLock()
            var ok = 0
            var failed = 0
            var stop = false
        }
        let counts = Counts()
        let load = Thread {
            guard let c = try? Client(port: port) else { return }
            while !counts.lock.withLock({ counts.stop }) {
                let status = (try? c.request(chatRequest()).status) ?? 0
                counts.lock.withLock {
                    if status == 200 { counts.ok += 1 } else { counts.failed += 1 }
                }
            }
        }
        load.start()
        for i in 0..<20 {
            let tmp = fleet.rulesPath + ".tmp"
            try write(Self.rules(fleet, to: i % 2 == 0 ? "candidate" : "stable"), to: tmp)
            rename(tmp, fleet.rulesPath)
            usleep(150_000)
        }
        counts.lock.withLock { counts.stop = true }
        usleep(200_000)
        let (ok, failed) = counts.lock.withLock { (counts.ok, counts.failed) }
        #expect(ok > 100)
        #expect(failed == 0)
        #expect(try waitFor("stable", port))
    }

    @Test func sighupForcesAReload() throws {
        let fleet = try RulesRoutingTests.Fleet(flags: RulesRoutingTests.segmentFlags)
        fleet.proxy.signal(SIGHUP)
        usleep(500_000)
        #expect(fleet.proxy.log.contains("\"event\":\"rules_reload_requested\""))
        #expect(fleet.proxy.isRunning)
    }
}
