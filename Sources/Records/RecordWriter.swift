import Glibc
import HTTP1
import Synchronization

/// Counters of the writer, read by metrics and tests from any thread.
public final class RecordStats: Sendable {
    let writtenAtomic = Atomic<Int>(0)
    let droppedQueueFullAtomic = Atomic<Int>(0)
    let droppedIOAtomic = Atomic<Int>(0)
    let rotationsAtomic = Atomic<Int>(0)
    let tornBytesAtomic = Atomic<Int>(0)

    public var written: Int { writtenAtomic.load(ordering: .relaxed) }
    /// Records refused because the queue was full (the disk or the writer could not keep up).
    public var droppedQueueFull: Int { droppedQueueFullAtomic.load(ordering: .relaxed) }
    /// Records lost to write errors (ENOSPC, EIO): never half-written.
    public var droppedIO: Int { droppedIOAtomic.load(ordering: .relaxed) }
    public var rotations: Int { rotationsAtomic.load(ordering: .relaxed) }
    /// Bytes of a torn last line moved aside at start.
    public var tornBytes: Int { tornBytesAtomic.load(ordering: .relaxed) }
}

/// Appends JSON Lines records to local files that a log collector tails.
///
/// Follows the collectors' contract (Vector, Fluent Bit): one record is one line, never split
/// across `write(2)` calls, appended on an `O_APPEND` descriptor by one writer thread. Each write
/// carries the whole lines taken from the queue in one go (up to 256 KiB): on ext4 a write per
/// 3 KiB record cost about 10 µs of kernel time against under 1 µs per record batched. The
/// request path only enqueues (bounded, never blocks: a full queue drops and counts). A write
/// error (ENOSPC, EIO) drops that write's records and truncates any partial bytes away, so no
/// partial line is ever left; writing resumes by itself when the disk recovers. Rotation renames the active file (never copy-and-truncate)
/// and creates a new one whose first line is a unique file header. A torn last line from a crash
/// is repaired before the first append. Each record gets a per-file sequence number as its first
/// field (`{"seq":N,...`).
public final class RecordWriter: @unchecked Sendable {
    public let config: RecordConfig
    public let stats = RecordStats()
    /// Test hook: returns an errno to fail the next write with (e.g. ENOSPC), or nil.
    let faultInjector: (@Sendable () -> Int32?)?

    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()
    /// The queue: records back to back as submitted, and where each one ends. One copy into
    /// memory that is reused (no array per record); the writer swaps both out in one go.
    private var inbox: [UInt8] = []
    private var inboxEnds: [Int] = []
    private var closing = false
    /// The writer waits without a timeout (nothing queued, nothing to fsync): wake it on submit.
    private var writerAsleep = false
    private var thread = pthread_t()
    // Writer-thread state.
    private var fd: Int32 = -1
    private var fileSize = 0
    /// When this process opened the active file (monotonic ns), for rotation by age.
    private var fileOpenedNs: UInt64 = 0
    private var seq = 0
    private var rotationCounter = 0
    private var dirty = false
    private var lastFsyncNs: UInt64 = 0
    private var lastErrorLogNs: UInt64 = 0
    /// Where the active file stood at recent fsyncs (monotonic ns), for `dropSyncedPages`.
    private var syncPoints: [(offset: Int, ns: UInt64)] = []
    /// The active file's bytes before this offset were already dropped from the page cache.
    private var droppedUpTo = 0
    /// Whole lines waiting for their `write(2)` (see `flush`).
    private var scratch: [UInt8] = []
    private var pendingRecords = 0
    /// Largest single write: one per batch taken from the queue, or more for big batches.
    static let maxWriteBytes = 256 * 1024
    /// Records the writer lets accumulate before it is woken early.
    static let wakeBatch = 256
    /// Longest time a record waits in the queue before the writer takes it.
    static let batchDelayMs = 5

    public enum OpenError: Error, CustomStringConvertible {
        case cannotOpen(String, Int32)
        public var description: String {
            switch self {
            case .cannotOpen(let p, let e): return "cannot open \(p) for appending (errno \(e))"
            }
        }
    }

    public init(config: RecordConfig, faultInjector: (@Sendable () -> Int32?)? = nil) throws {
        self.config = config
        self.faultInjector = faultInjector
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
        RecordFile.makeDirectories(config.directory)
        stats.tornBytesAtomic.store(RecordFile.repair(config.activePath), ordering: .relaxed)
        fd = RecordFile.openAppend(config.activePath)
        guard fd >= 0 else { throw OpenError.cannotOpen(config.activePath, errno) }
        fileSize = RecordFile.size(fd)
        fileOpenedNs = monotonicNs()
        seq = fileSize == 0 ? 0 : RecordWriter.lastSeq(config.activePath)
        // What an earlier process wrote is older than any grace: it may leave the cache at the
        // first fsync (which also writes back what a crashed process left dirty; the kernel only
        // drops clean pages).
        if fileSize > 0 { syncPoints.append((fileSize, 0)) }
        if fileSize == 0 { writeHeader() }
        scratch.reserveCapacity(64 * 1024)
        let me = Unmanaged.passRetained(self).toOpaque()
        pthread_create(
            &thread, nil,
            { arg in
                let writer = Unmanaged<RecordWriter>.fromOpaque(arg!).takeRetainedValue()
                writer.run()
                return nil
            }, me)
    }

    /// Enqueues (copies) one record: a JSON object (starting with `{`), without a trailing
    /// newline. Never blocks; false when the queue is full, by records or by bytes (the record is
    /// dropped and counted).
    @discardableResult
    public func submit(_ record: UnsafeRawBufferPointer) -> Bool {
        pthread_mutex_lock(&mutex)
        if inboxEnds.count >= config.queueCapacity || inbox.count + record.count > config.queueBytes || closing {
            pthread_mutex_unlock(&mutex)
            stats.droppedQueueFullAtomic.add(1, ordering: .relaxed)
            return false
        }
        inbox.append(contentsOf: record)
        inboxEnds.append(inbox.count)
        // Wake the writer only for a full batch: waking it per record costs two context switches
        // each. Otherwise it picks records up within `batchDelayMs`.
        if inboxEnds.count == RecordWriter.wakeBatch || writerAsleep {
            writerAsleep = false
            pthread_cond_signal(&cond)
        }
        pthread_mutex_unlock(&mutex)
        return true
    }

    /// Writes everything queued, fsyncs, closes the file and stops the thread.
    public func close() {
        pthread_mutex_lock(&mutex)
        let already = closing
        closing = true
        pthread_cond_signal(&cond)
        pthread_mutex_unlock(&mutex)
        if !already { pthread_join(thread, nil) }
    }

    // MARK: Writer thread

    @discardableResult
    public func submit(_ record: [UInt8]) -> Bool { record.withUnsafeBytes { submit($0) } }

    private func run() {
        var batch: [UInt8] = []
        var ends: [Int] = []
        while true {
            var timedOut = false
            pthread_mutex_lock(&mutex)
            // Records wait at most `batchDelayMs` (or until a batch is full); an idle, dirty
            // writer fsyncs once the interval has passed (`timedOut`); an idle, clean one sleeps
            // until `submit` wakes it.
            var waitedMs = 0
            while !closing && inboxEnds.count < RecordWriter.wakeBatch {
                if !inboxEnds.isEmpty && waitedMs >= RecordWriter.batchDelayMs { break }
                if inboxEnds.isEmpty {
                    guard dirty, case .interval(let ms) = config.fsync else {
                        writerAsleep = true
                        pthread_cond_wait(&cond, &mutex)
                        writerAsleep = false
                        waitedMs = 0
                        continue
                    }
                    if waitedMs >= Int(ms) {
                        timedOut = true
                        break
                    }
                }
                var ts = timespec()
                clock_gettime(CLOCK_REALTIME, &ts)
                let ns = Int(ts.tv_nsec) + RecordWriter.batchDelayMs * 1_000_000
                ts.tv_sec += ns / 1_000_000_000
                ts.tv_nsec = ns % 1_000_000_000
                _ = pthread_cond_timedwait(&cond, &mutex, &ts)
                waitedMs += RecordWriter.batchDelayMs
            }
            swap(&batch, &inbox)
            swap(&ends, &inboxEnds)
            let stop = closing && ends.isEmpty
            pthread_mutex_unlock(&mutex)
            batch.withUnsafeBytes { p in
                var start = 0
                for end in ends {
                    write(UnsafeRawBufferPointer(rebasing: p[start..<end]))
                    start = end
                }
            }
            flush()
            // The buffer goes back to `submit` at the next swap; a burst's worth beyond 4 MiB is freed.
            batch.removeAll(keepingCapacity: batch.capacity <= 4 << 20)
            ends.removeAll(keepingCapacity: true)
            // An idle interval passed with unsynced records: fsync now.
            syncIfDue(force: stop || timedOut)
            if stop {
                Glibc.close(fd)
                fd = -1
                return
            }
        }
    }

    private func syncIfDue(force: Bool) {
        guard dirty else { return }
        let now = monotonicNs()
        switch config.fsync {
        case .always: break
        case .never: if !force { return }
        case .interval(let ms): if !force && now - lastFsyncNs < ms * 1_000_000 { return }
        }
        fsync(fd)
        dirty = false
        lastFsyncNs = now
        noteSync(now)
    }

    /// Records where an fsync left the file, then drops what is old enough (at most a point per
    /// 100 ms is kept: with fsync `always` there is one per batch).
    private func noteSync(_ now: UInt64) {
        if let last = syncPoints.last, now - last.ns < 100_000_000 {
            syncPoints[syncPoints.count - 1].offset = fileSize
        } else {
            syncPoints.append((fileSize, now))
        }
        dropSyncedPages(now)
    }

    /// Gives back the page cache of records fsynced at least `dropCachedAfterMs` ago: the
    /// kernel drops those clean pages, and the next writes reuse memory instead of growing the
    /// cache by every byte written (on this project's VM, writing into page cache never touched
    /// before cost several times more per byte).
    private func dropSyncedPages(_ now: UInt64) {
        guard config.dropCachedAfterMs > 0 else { return }
        let grace = config.dropCachedAfterMs * 1_000_000
        var upTo = droppedUpTo
        var keepFrom = 0
        for (i, p) in syncPoints.enumerated() where p.ns + grace <= now {
            upTo = max(upTo, p.offset)
            keepFrom = i + 1
        }
        guard keepFrom > 0 else { return }
        syncPoints.removeFirst(keepFrom)
        guard upTo > droppedUpTo else { return }
        _ = posix_fadvise(fd, off_t(droppedUpTo), off_t(upTo - droppedUpTo), POSIX_FADV_DONTNEED)
        droppedUpTo = upTo
    }

    /// Adds one record to the pending lines (flushed by `flush`, at most `maxWriteBytes` a write).
    private func write(_ record: UnsafeRawBufferPointer) {
        guard record.first == UInt8(ascii: "{") else {
            stats.droppedIOAtomic.add(1, ordering: .relaxed)
            return
        }
        // Rotate first, so the record's sequence number belongs to the file it lands in
        // (`{"seq":N,` adds at most 30 bytes to the record).
        let size = fileSize + scratch.count
        if size > 0 && size + record.count + 30 > config.maxFileBytes {
            flush()
            rotate()
        } else if seq > 0 && config.maxFileAgeMs > 0 && monotonicNs() - fileOpenedNs >= config.maxFileAgeMs * 1_000_000
        {
            flush()
            rotate()
        } else if scratch.count + record.count + 30 > RecordWriter.maxWriteBytes {
            flush()
        }
        seq += 1
        pendingRecords += 1
        let seqKey: StaticString = "{\"seq\":"
        scratch.append(contentsOf: UnsafeRawBufferPointer(start: seqKey.utf8Start, count: seqKey.utf8CodeUnitCount))
        DecimalText.append(seq, to: &scratch)
        if record.count > 2 { scratch.append(UInt8(ascii: ",")) }
        scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: record[1...]))
        scratch.append(0x0A)
    }

    /// Writes the pending lines with one `write(2)`: whole lines only, so a tailer never sees a
    /// record split across writes. If it fails, the file is cut back and those records are
    /// dropped and counted (their sequence numbers are reused, keeping each file contiguous).
    private func flush() {
        guard pendingRecords > 0 else { return }
        if appendLine(scratch) {
            stats.writtenAtomic.add(pendingRecords, ordering: .relaxed)
        } else {
            stats.droppedIOAtomic.add(pendingRecords, ordering: .relaxed)
            seq -= pendingRecords
        }
        pendingRecords = 0
        scratch.removeAll(keepingCapacity: true)
    }

    /// One `write(2)`; on any failure or short write the file is cut back to where it was.
    private func appendLine(_ line: [UInt8]) -> Bool {
        if let injected = faultInjector?() {
            reportError(injected)
            return false
        }
        let n = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if n == line.count {
            fileSize += n
            dirty = true
            return true
        }
        let err = n < 0 ? errno : ENOSPC
        if n > 0 { ftruncate(fd, off_t(fileSize)) }  // no partial line left behind
        reportError(err)
        return false
    }

    private func reportError(_ err: Int32) {
        let now = monotonicNs()
        guard now - lastErrorLogNs > 10_000_000_000 || lastErrorLogNs == 0 else { return }
        lastErrorLogNs = now
        var msg = Array("{\"level\":\"error\",\"event\":\"records_write_failed\",\"errno\":\(err),\"path\":".utf8)
        msg.append(
            contentsOf:
                "\"\(config.activePath)\",\"note\":\"records are dropped and counted; writing resumes when the disk recovers\"}\n"
                .utf8)
        _ = msg.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }

    private func rotate() {
        fsync(fd)
        // Of the file going away, what is old enough leaves the cache now; the last moments
        // stay (a tailer may still be reading them) until the kernel evicts them.
        noteSync(monotonicNs())
        syncPoints.removeAll()
        droppedUpTo = 0
        Glibc.close(fd)
        rotationCounter += 1
        let rotated =
            config.directory + "/" + config.stem + "-" + RecordFile.utcStamp() + "-" + String(rotationCounter)
            + ".jsonl"
        rename(config.activePath, rotated)
        fd = RecordFile.openAppend(config.activePath)
        fileSize = RecordFile.size(fd)
        fileOpenedNs = monotonicNs()
        seq = 0
        stats.rotationsAtomic.add(1, ordering: .relaxed)
        writeHeader()
        RecordFile.applyRetention(config)
    }

    /// The first line of every file: unique (collectors fingerprint the first line).
    private func writeHeader() {
        var id = ""
        for _ in 0..<4 { id += String(UInt32.random(in: 0...UInt32.max), radix: 16) }
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let line = Array(
            "{\"seq\":0,\"type\":\"file_header\",\"schema\":\"modelflag.records/v1\",\"file_id\":\"\(id)\",\"created_unix_ns\":\(Int(ts.tv_sec) * 1_000_000_000 + Int(ts.tv_nsec))}\n"
                .utf8)
        if appendLine(line) { dirty = true }
    }

    /// The `seq` of the last line of an existing file (so numbering continues after a restart).
    static func lastSeq(_ path: String) -> Int {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { Glibc.close(fd) }
        let size = RecordFile.size(fd)
        let start = max(0, size - 65_536)
        var buf = [UInt8](repeating: 0, count: size - start)
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(start)) }
        guard n > 1 else { return 0 }
        let body = buf[0..<(n - 1)]  // drop the final newline
        let lineStart = (body.lastIndex(of: 0x0A) ?? -1) + 1
        let prefix = Array("{\"seq\":".utf8)
        guard body.count - lineStart > prefix.count, Array(body[lineStart..<(lineStart + prefix.count)]) == prefix
        else { return 0 }
        var v = 0
        var i = lineStart + prefix.count
        while i < body.endIndex, body[i] >= 0x30, body[i] <= 0x39 {
            v = v * 10 + Int(body[i] - 0x30)
            i += 1
        }
        return v
    }

    private func monotonicNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    deinit {
        pthread_cond_destroy(&cond)
        pthread_mutex_destroy(&mutex)
    }
}
