import Glibc
import HTTP1
import HTTPServer
import Records
import Rules
import Synchronization
import UVCore

/// Everything `modelflag run` needs, already validated by the CLI.
public struct ProxyOptions: Sendable {
    public var listen: SocketAddress
    public var admin: SocketAddress?
    public var upstream: UpstreamConfig
    public var server = ServerConfig()
    public var workers = 1
    /// Longest time in-flight exchanges get after SIGTERM before they are aborted.
    public var drainTimeoutMs: UInt64 = 30_000
    /// After SIGTERM, keep accepting this long (readiness already false) so that endpoint removal
    /// propagates before the listener closes (Kubernetes). 0 = close the listener at once.
    public var shutdownDelayMs: UInt64 = 0
    /// The rules file (`--rules`) and its content at start; nil routes everything to `upstream`.
    public var rulesPath: String?
    public var rules: RuleSet?
    /// How often the rules file is stat-polled besides inotify (0 = never).
    public var rulesPollMs: UInt64 = 2_000
    /// Output records (`--records-dir`); nil writes none.
    public var records: RecordConfig?

    public init(listen: SocketAddress, upstream: UpstreamConfig) {
        self.listen = listen
        self.upstream = upstream
    }
}

/// One loop's share of the proxy: its listener (SO_REUSEPORT with the others), its upstream pool.
final class Worker {
    let index: Int
    let loop: Loop
    let server: Server
    let router: Router
    let shadows: ShadowDispatcher
    private var drainTimer: Timer?
    private var observer: MetricsObserver
    var onFinished: (() -> Void)?
    /// The rules generation this worker has installed.
    var rulesGeneration = 0

    /// Installs newer published rules, if any (called on this worker's loop).
    func refreshRules(_ shared: SharedState) {
        let gen = shared.rules.gen
        guard gen != rulesGeneration, let update = shared.rules.latest else { return }
        rulesGeneration = gen
        router.install(update)
    }

    init(
        index: Int, loop: Loop, options: ProxyOptions, address: SocketAddress, shared: SharedState,
        records: RecordWriter?
    ) throws(UVError) {
        self.index = index
        self.loop = loop
        let metrics = shared.workerMetrics[index]
        let router = Router(loop: loop, base: options.upstream, metrics: metrics, flagCounters: shared.flagCounters)
        if let update = shared.rules.latest {
            router.install(update)
            rulesGeneration = shared.rules.gen
        }
        router.recordDetails = records != nil
        self.router = router
        let stats = records != nil ? shared.segmentStats : nil
        let shadows = ShadowDispatcher(loop: loop, metrics: metrics, records: records, stats: stats)
        self.shadows = shadows
        observer = MetricsObserver(metrics)
        server = try Server(
            loop: loop, name: "proxy", address: address, reusePort: options.workers > 1, config: options.server
        ) { conn in
            Forwarder(conn: conn, router: router, metrics: metrics, records: records, shadows: shadows, stats: stats)
        }
        server.observer = observer
    }

    func beginDrain(timeoutMs: UInt64) {
        drainTimer = try? Timer(loop: loop) { [weak self] in
            guard let self else { return }
            Log.write(.warn, "drain_deadline") { $0.field("open_connections", self.server.connectionCount) }
            self.server.abortAll()
        }
        drainTimer?.start(ms: timeoutMs)
        server.onDrained = { [weak self] in self?.finish() }
        server.beginDrain()
    }

    private func finish() {
        drainTimer?.close()
        drainTimer = nil
        // Shadow calls still running are cut (recorded `incomplete`): they must not hold up exit.
        shadows.cancelAll()
        router.closeIdle()
        let cb = onFinished
        onFinished = nil
        cb?()
    }
}

/// Runs the proxy until drained. Returns the process exit code.
///
/// Threads: the calling thread runs loop 0 (worker 0, the admin listener, signal handling); each
/// further worker runs its own loop on its own thread. Cross-thread messages are wake-ups only.
public enum ProxyRuntime {
    public static func run(_ options: ProxyOptions) -> Int32 {
        ProcessSignals.prepare()
        let shared = SharedState(workers: options.workers)
        if let rules = options.rules {
            let (update, problem) = RulesUpdate.resolve(rules)
            guard let update else {
                Log.write(.error, "rules_invalid") { $0.field("error", problem ?? "") }
                return 1
            }
            var ts: [UInt8] = []
            Log.appendTimestamp(&ts)
            shared.rules.status.withLock {
                $0.path = options.rulesPath
                $0.revision = rules.revision
                $0.loadedAt = String(decoding: ts, as: UTF8.self)
            }
            shared.rules.publish(update)
            Log.write(.info, "rules_loaded") {
                $0.field("path", options.rulesPath ?? "")
                $0.field("revision", rules.revision)
                $0.field("flags", rules.flags.count)
            }
        }
        var records: RecordWriter?
        if let config = options.records {
            do {
                records = try RecordWriter(config: config)
                Log.write(.info, "records_open") {
                    $0.field("path", config.activePath)
                    $0.field("torn_bytes_repaired", records?.stats.tornBytes ?? 0)
                }
            } catch {
                Log.write(.error, "records_open_failed") { $0.field("error", "\(error)") }
                return 1
            }
        }
        defer { records?.close() }
        let writer = records
        shared.recordStats.withLock { $0 = records?.stats }
        let loop: Loop
        let worker0: Worker
        do {
            loop = try Loop()
            worker0 = try Worker(
                index: 0, loop: loop, options: options, address: options.listen, shared: shared, records: writer)
        } catch {
            Log.write(.error, "listen_failed") {
                $0.field("addr", options.listen.description); $0.field("error", error.description)
            }
            return 1
        }
        let bound = worker0.server.address ?? options.listen
        Log.write(.info, "listening") {
            $0.field("role", "proxy")
            $0.field("addr", bound.description)
            $0.field("upstream", options.upstream.address.description)
            $0.field("workers", options.workers)
        }

        var admin: Server?
        if let adminAddress = options.admin {
            do {
                admin = try Server(
                    loop: loop, name: "admin", address: adminAddress, reusePort: false, config: ServerConfig()
                ) { _ in
                    AdminHandler(shared: shared)
                }
                Log.write(.info, "listening") {
                    $0.field("role", "admin"); $0.field("addr", (admin?.address ?? adminAddress).description)
                }
            } catch {
                Log.write(.error, "listen_failed") {
                    $0.field("addr", adminAddress.description); $0.field("error", error.description)
                }
                return 1
            }
        }

        // Other workers: each binds the same port on its own loop and thread.
        let remaining = Atomic<Int>(options.workers)
        let wakers = Mutex<[Waker?]>([Waker?](repeating: nil, count: options.workers))
        let failed = Atomic<Bool>(false)
        var mainWake: AsyncWake?
        var threads: [LoopThread] = []
        var finishing = false
        var signals: [SignalWatcher] = []

        var watcher: RulesWatcher?
        func closeMain() {
            guard !finishing else { return }
            finishing = true
            watcher?.close()
            admin?.closeListener()
            admin?.abortAll()
            for s in signals { s.close() }
            mainWake?.close()
        }
        mainWake = try? AsyncWake(loop: loop) {
            if remaining.load(ordering: .acquiring) == 0 { closeMain() }
        }
        let mainWaker = mainWake!.waker

        for index in 1..<max(1, options.workers) {
            let t = LoopThread.spawn {
                guard let wloop = try? Loop(),
                    let worker = try? Worker(
                        index: index, loop: wloop, options: options, address: bound, shared: shared, records: writer)
                else {
                    failed.store(true, ordering: .releasing)
                    wakers.withLock { $0[index] = nil }
                    remaining.subtract(1, ordering: .acquiringAndReleasing)
                    mainWaker.wake()
                    return
                }
                var wake: AsyncWake?
                wake = try? AsyncWake(loop: wloop) {
                    worker.refreshRules(shared)
                    if shared.isDraining { worker.server.preferClose = true }
                    if shared.isDrainStarted {
                        worker.onFinished = {
                            wake?.close()
                            wake = nil
                        }
                        worker.beginDrain(timeoutMs: options.drainTimeoutMs)
                    }
                }
                wakers.withLock { $0[index] = wake?.waker }
                wloop.run()
                _ = wloop.closeAll()
                remaining.subtract(1, ordering: .acquiringAndReleasing)
                mainWaker.wake()
            }
            threads.append(t)
        }
        // Wait until every worker is listening (or failed) before reporting ready.
        while options.workers > 1 {
            let ready = wakers.withLock { list in list.dropFirst().allSatisfy { $0 != nil } }
            if ready || failed.load(ordering: .acquiring) { break }
            usleep(1000)
        }
        if failed.load(ordering: .acquiring) {
            Log.write(.error, "worker_start_failed")
            return 1
        }

        if let path = options.rulesPath {
            watcher = RulesWatcher(loop: loop, path: path, pollMs: options.rulesPollMs, channel: shared.rules) { _ in
                worker0.refreshRules(shared)
                for w in wakers.withLock({ $0 }) { w?.wake() }
            }
        }
        // SIGHUP reloads the rules file; without one it is logged, never the default action (exit).
        if let w = try? SignalWatcher(
            loop: loop, signal: SIGHUP,
            { _ in
                guard let watcher else {
                    Log.write(.info, "sighup_ignored") { $0.field("reason", "no rules file") }
                    return
                }
                Log.write(.info, "rules_reload_requested") { $0.field("signal", "SIGHUP") }
                watcher.reload()
            })
        {
            signals.append(w)
        }

        var drainStarted = false
        func startDrain() {
            guard !drainStarted else { return }
            drainStarted = true
            Log.write(.info, "drain_started") { $0.field("timeout_ms", Int(options.drainTimeoutMs)) }
            shared.markDrainStarted()
            for w in wakers.withLock({ $0 }) { w?.wake() }
            worker0.onFinished = {
                remaining.subtract(1, ordering: .acquiringAndReleasing)
                mainWaker.wake()
            }
            worker0.beginDrain(timeoutMs: options.drainTimeoutMs)
        }
        var delayTimer: Timer?
        var signalCount = 0
        let onSignal: (Int32) -> Void = { signum in
            signalCount += 1
            if signalCount > 1 {
                Log.write(.warn, "forced_exit") { $0.field("signal", Int(signum)) }
                _exit(1)
            }
            shared.markDraining()
            worker0.server.preferClose = true
            for w in wakers.withLock({ $0 }) { w?.wake() }
            Log.write(.info, "shutdown_requested") {
                $0.field("signal", Int(signum)); $0.field("delay_ms", Int(options.shutdownDelayMs))
            }
            if options.shutdownDelayMs > 0 {
                delayTimer = try? Timer(loop: loop) {
                    delayTimer?.close()
                    startDrain()
                }
                delayTimer?.start(ms: options.shutdownDelayMs)
            } else {
                startDrain()
            }
        }
        for s in [SIGTERM, SIGINT] {
            if let w = try? SignalWatcher(loop: loop, signal: s, onSignal) { signals.append(w) }
        }
        // Signals that came while starting were held (`ProcessSignals.prepare`); handled from here.
        ProcessSignals.deliver()
        loop.run()
        for t in threads { t.join() }
        _ = loop.closeAll()
        Log.write(.info, "stopped")
        return 0
    }
}
