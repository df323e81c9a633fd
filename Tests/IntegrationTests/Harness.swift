import Foundation
import Testing

/// Runs the real `modelflag` binary (built next to this test bundle) and talks to it over real
/// sockets on 127.0.0.1. Every process listens on port 0 and reports its port in its log, so tests
/// never race for ports; every process is stopped when its `Spawned` is stopped.
enum Binary {
    static var path: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
        return dir.appendingPathComponent("modelflag").path
    }
}

/// A child process started with `posix_spawn` and reaped with `waitpid` on its own pid.
///
/// Not Foundation's `Process`: with many children at once its single reaper thread can block in
/// `wait4` on one live child while others exit unreaped, and `waitUntilExit` then never returns
/// (seen here as a hung test run).
final class Spawned: @unchecked Sendable {
    let pid: pid_t
    let logPath: String
    private(set) var ports: [String: UInt16] = [:]
    private var exitStatus: Int32?
    private let lock = NSLock()

    /// Starts `modelflag ARGS` and waits until it logged a `listening` line for each role in `roles`.
    init(_ args: [String], roles: [String]) throws {
        logPath = NSTemporaryDirectory() + "modelflag-test-\(UUID().uuidString).log"
        pid = try Spawned.spawn([Binary.path] + args, stdout: "/dev/null", stderr: logPath)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            for line in log.split(separator: "\n") where line.contains("\"event\":\"listening\"") {
                guard let role = Self.field(String(line), "role"), let addr = Self.field(String(line), "addr"),
                    let port = UInt16(addr.split(separator: ":").last ?? "")
                else { continue }
                ports[role] = port
            }
            if roles.allSatisfy({ ports[$0] != nil }) { return }
            if !isRunning { break }
            usleep(20_000)
        }
        let text = log
        stop()
        throw HarnessError.didNotStart(args.joined(separator: " "), text)
    }

    /// posix_spawn with stdout and stderr redirected to files, and no signal blocked: the test
    /// runner's threads block most signals and a child inherits the mask (rsyslogd then never
    /// sees SIGTERM); a process started by a shell or the kubelet has an empty one.
    /// A child also inherits every descriptor of this process not marked close-on-exec, and tests
    /// run in parallel: every socket and file the tests open is `CLOEXEC`, or a child spawned by
    /// another test keeps a client's connection open after the test closes it.
    static func spawn(_ argv: [String], stdout: String, stderr: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK))
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for a in cArgs { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attr, &cArgs, environ)
        guard rc == 0 else { throw HarnessError.io("posix_spawn \(argv[0]) failed: \(rc)") }
        return pid
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func port(_ role: String) -> UInt16 { ports[role]! }

    static func field(_ line: String, _ name: String) -> String? {
        guard let r = line.range(of: "\"\(name)\":\"") else { return nil }
        let rest = line[r.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }

    func signal(_ sig: Int32) {
        if isRunning { kill(pid, sig) }
    }

    /// Reaps the child if it exited (never blocks).
    var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        if exitStatus != nil { return false }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid {
            exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            return false
        }
        return r == 0
    }

    /// Waits for exit and returns the exit status (128+signal when killed), or nil after the timeout.
    func wait(timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning && Date() < deadline { usleep(10_000) }
        lock.lock()
        defer { lock.unlock() }
        return exitStatus
    }

    /// Resident memory in KiB (VmRSS).
    var rssKiB: Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }

    func stop() {
        if isRunning {
            kill(pid, SIGKILL)
            _ = wait(timeout: 10)
        }
        try? FileManager.default.removeItem(atPath: logPath)
    }

    deinit { stop() }
}

/// Runs `modelflag ARGS` to completion and returns its exit status and standard output.
/// A stand-in model on a free port of 127.0.0.1 (`modelflag stub-model`), reporting `model`.
func standIn(_ model: String, _ args: [String] = []) throws -> Spawned {
    try Spawned(["stub-model", "--listen", "127.0.0.1:0", "--model", model] + args, roles: ["stand-in"])
}

func runBinary(_ args: [String], withStderr: Bool = false) throws -> (Int32, String) {
    try runProgram([Binary.path] + args, withStderr: withStderr)
}

/// Runs a program to its end: exit status and standard output (then standard error, when asked).
func runProgram(_ argv: [String], withStderr: Bool = false) throws -> (Int32, String) {
    let out = NSTemporaryDirectory() + "modelflag-out-\(UUID().uuidString)"
    let err = out + ".err"
    defer {
        try? FileManager.default.removeItem(atPath: out)
        try? FileManager.default.removeItem(atPath: err)
    }
    let pid = try Spawned.spawn(argv, stdout: out, stderr: withStderr ? err : "/dev/null")
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    var text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    if withStderr { text += (try? String(contentsOfFile: err, encoding: .utf8)) ?? "" }
    return ((status >> 8) & 0xff, text)
}

enum HarnessError: Error, CustomStringConvertible {
    case didNotStart(String, String)
    case io(String)
    var description: String {
        switch self {
        case .didNotStart(let cmd, let log): return "modelflag \(cmd) did not start:\n\(log)"
        case .io(let s): return s
        }
    }
}

/// A stand-in model plus a sidecar in front of it.
final class Stack: @unchecked Sendable {
    let model: Spawned
    let proxy: Spawned

    init(modelArgs: [String] = [], proxyArgs: [String] = []) throws {
        model = try Spawned(["stub-model", "--listen", "127.0.0.1:0", "--faults"] + modelArgs, roles: ["stand-in"])
        proxy = try Spawned(
            [
                "run", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--upstream",
                "127.0.0.1:\(model.port("stand-in"))",
            ]
                + proxyArgs, roles: ["proxy", "admin"])
    }

    var port: UInt16 { proxy.port("proxy") }
    var adminPort: UInt16 { proxy.port("admin") }

    /// One metric value from /metrics (the first sample whose line starts with `prefix`).
    func metric(_ prefix: String) throws -> Double {
        let client = try Client(port: adminPort)
        let r = try client.request("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
        for line in r.bodyText.split(separator: "\n") where line.hasPrefix(prefix + " ") {
            return Double(line.split(separator: " ").last ?? "") ?? -1
        }
        throw HarnessError.io("metric \(prefix) not found")
    }

    func stop() {
        proxy.stop()
        model.stop()
    }

    deinit { stop() }
}

/// Request ids answered, filled by several client threads. An `NSLock` rather than
/// `Synchronization.Mutex`: ThreadSanitizer reports concurrent `withLock` calls on a captured
/// `Mutex` as an access race, which would hide a real report in a `--sanitize=thread` run.
final class AnsweredIds: @unchecked Sendable {
    private let lock = NSLock()
    private var ids = Set<String>()

    func insert(_ id: String) { lock.withLock { _ = ids.insert(id) } }
    var all: Set<String> { lock.withLock { ids } }
}

/// Chat requests from `clients` keep-alive connections for `seconds`, each with its own
/// `X-Request-Id` (`t<client>-<n>`); returns the ids answered 200 once every client stopped.
func chatLoad(port: UInt16, clients: Int = 4, seconds: TimeInterval) -> Set<String> {
    let answered = AnsweredIds()
    let threads = (0..<clients).map { t in
        Thread {
            guard let c = try? Client(port: port, timeout: 5) else { return }
            let end = Date().addingTimeInterval(seconds)
            var i = 0
            while Date() < end {
                let id = "t\(t)-\(i)"
                if (try? c.request(chatRequest(extra: "X-Request-Id: \(id)\r\n")))?.status == 200 {
                    answered.insert(id)
                }
                i += 1
            }
        }
    }
    for t in threads { t.start() }
    while threads.contains(where: { !$0.isFinished }) { usleep(50_000) }
    return answered.all
}

/// The first of `paths` that is an executable (a Debian package `scripts/test` installs), or nil.
func installedProgram(_ paths: String...) -> String? {
    paths.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// A third-party server (Prometheus, rsyslog) run in the foreground for one test, its output in
/// `dir`/out.log and err.log; stopped with SIGTERM and reaped by `stop()` or on deinit.
final class ExternalProcess: @unchecked Sendable {
    let pid: pid_t
    let dir: String
    private var stopped = false

    init(_ argv: [String], logsIn dir: String) throws {
        self.dir = dir
        pid = try Spawned.spawn(argv, stdout: dir + "/out.log", stderr: dir + "/err.log")
    }

    var errors: String { (try? String(contentsOfFile: dir + "/err.log", encoding: .utf8)) ?? "" }

    func stop() {
        guard !stopped else { return }
        stopped = true
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    deinit { stop() }
}
