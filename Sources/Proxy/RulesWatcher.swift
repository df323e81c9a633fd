import Glibc
import HTTPServer
import Rules
import Synchronization
import UVCore

/// Reads a file whole (thread-pool side). nil when it cannot be read or is over 16 MiB.
public func readWholeFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { return nil }
        if n == 0 { return out }
        out.append(contentsOf: buf[0..<n])
        if out.count > 16 << 20 { return nil }
    }
}

/// Watches the rules file and publishes each new valid revision. Main loop only.
///
/// Three triggers, so every way a shared file changes is seen: inotify on the file's directory
/// (ConfigMap `..data` symlink swaps, write-and-rename, delete and re-create), a stat poll (default
/// every 2 s: for volumes without inotify, and as a safety net), and SIGHUP. Events are debounced
/// (100 ms) and a reload reads, parses and compiles on a background thread, never on the loop. A file
/// that is empty, truncated, half-written, invalid or missing is refused, logged, and counted; the
/// last good rules stay in force. Only a new content hash is published.
final class RulesWatcher {
    let loop: Loop
    let path: String
    let channel: RulesChannel
    let onUpdate: (RulesUpdate) -> Void
    private var fsWatcher: FSWatcher?
    private var pollTimer: Timer?
    private var debounce: Timer?
    private var loading = false
    private var pending = false
    private var lastStat: (ino: UInt, size: Int, mtime: Int) = (0, 0, 0)

    init(loop: Loop, path: String, pollMs: UInt64, channel: RulesChannel, onUpdate: @escaping (RulesUpdate) -> Void) {
        self.loop = loop
        self.path = path
        self.channel = channel
        self.onUpdate = onUpdate
        lastStat = statFile()
        let dir = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        do {
            fsWatcher = try FSWatcher(loop: loop, directory: dir.isEmpty ? "/" : dir) { [weak self] _ in
                self?.schedule()
            }
        } catch {
            Log.write(.warn, "rules_watch_unavailable") {
                $0.field("dir", dir)
                $0.field("error", error.description)
                $0.field("fallback", "stat poll")
            }
        }
        debounce = try? Timer(loop: loop) { [weak self] in self?.reload() }
        if pollMs > 0 {
            pollTimer = try? Timer(loop: loop) { [weak self] in self?.poll() }
            pollTimer?.start(ms: pollMs, repeatMs: pollMs)
        }
    }

    private func statFile() -> (ino: UInt, size: Int, mtime: Int) {
        var st = stat()
        guard stat(path, &st) == 0 else { return (0, -1, 0) }
        return (UInt(st.st_ino), Int(st.st_size), Int(st.st_mtim.tv_sec) * 1_000_000_000 + Int(st.st_mtim.tv_nsec))
    }

    private func poll() {
        let s = statFile()
        if s != lastStat { schedule() }
    }

    /// Debounces a burst of events into one reload.
    func schedule() {
        debounce?.start(ms: 100)
    }

    /// Reloads now (SIGHUP), even when nothing seems to have changed.
    func reload() {
        if loading {
            pending = true
            return
        }
        loading = true
        lastStat = statFile()
        let path = self.path
        loop.queueWork({ () -> LoadResult in
            guard let bytes = readWholeFile(path) else { return .failed("cannot read \(path) (missing or unreadable)") }
            do {
                let rules = try RulesLoader.load(bytes)
                let (update, problem) = RulesUpdate.resolve(rules)
                if let update { return .loaded(update) }
                return .failed(problem ?? "unresolvable upstream")
            } catch let failure as RulesLoader.Failure {
                return .failed(
                    failure.errors.map { "\(path):\($0.line):\($0.column): \($0.path): \($0.message)" }.joined(
                        separator: "; "))
            } catch {
                return .failed("\(error)")
            }
        }) { [weak self] result in
            guard let self else { return }
            self.loading = false
            self.apply(result)
            if self.pending {
                self.pending = false
                self.reload()
            }
        }
    }

    enum LoadResult: Sendable {
        case loaded(RulesUpdate)
        case failed(String)
    }

    private func apply(_ result: LoadResult) {
        var ts: [UInt8] = []
        Log.appendTimestamp(&ts)
        let now = String(decoding: ts, as: UTF8.self)
        switch result {
        case .loaded(let update):
            let old = channel.status.withLock { $0.revision }
            channel.status.withLock { $0.lastReloadSuccessful = true }
            guard update.rules.revision != old else { return }
            channel.status.withLock {
                $0.revision = update.rules.revision
                $0.loadedAt = now
                $0.reloads += 1
            }
            channel.publish(update)
            onUpdate(update)
            Log.write(.info, "rules_reloaded") {
                $0.field("path", path)
                $0.field("revision", update.rules.revision)
                if let old { $0.field("previous", old) }
                $0.field("flags", update.rules.flags.count)
            }
        case .failed(let message):
            channel.status.withLock {
                $0.lastError = message
                $0.lastErrorAt = now
                $0.failures += 1
                $0.lastReloadSuccessful = false
            }
            Log.write(.error, "rules_reload_failed") {
                $0.field("path", path)
                $0.field("error", message)
                $0.field("keeping", channel.status.withLock { $0.revision ?? "none" })
            }
        }
    }

    func close() {
        fsWatcher?.close()
        pollTimer?.close()
        debounce?.close()
    }
}
