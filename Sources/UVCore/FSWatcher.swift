import CLibUV

/// Watches a directory (inotify through libuv) and calls back on any change in it.
///
/// Watching the directory rather than the file is what makes Kubernetes ConfigMap updates (a
/// `..data` symlink swapped by rename), editors' write-and-rename, and delete-and-recreate all
/// visible: the file's own inode may be replaced, the directory's stays.
public final class FSWatcher: Handle {
    private var callback: ((String?) -> Void)?

    public init(loop: Loop, directory: String, _ callback: @escaping (String?) -> Void) throws(UVError) {
        self.callback = callback
        super.init(loop: loop, type: UV_FS_EVENT)
        let h = raw.assumingMemoryBound(to: uv_fs_event_t.self)
        try UVError.check(uv_fs_event_init(loop.raw, h))
        didOpen()
        let rc = uv_fs_event_start(h, fsEventCallback, directory, 0)
        if rc < 0 {
            close()
            throw UVError(rc)
        }
    }

    func fire(_ filename: String?) { callback?(filename) }

    public override func handleDidClose() { callback = nil }
}

final class WorkBox: @unchecked Sendable {
    let work: @Sendable () -> Void
    var done: (() -> Void)?
    init(work: @escaping @Sendable () -> Void, done: @escaping () -> Void) {
        self.work = work
        self.done = done
    }
}

/// Holds a value produced on a pool thread until the loop thread takes it.
final class ResultBox<T: Sendable>: @unchecked Sendable {
    var value: T?
}

extension Loop {
    /// Runs `work` on libuv's thread pool (file reads, parsing, fsync: anything that may block),
    /// then `done` with its result on this loop's thread.
    public func queueWork<T: Sendable>(_ work: @escaping @Sendable () -> T, done: @escaping (T) -> Void) {
        let result = ResultBox<T>()
        let box = WorkBox(work: { result.value = work() }, done: { if let v = result.value { done(v) } })
        let req = UnsafeMutablePointer<uv_work_t>.allocate(capacity: 1)
        req.pointee.data = Unmanaged.passRetained(box).toOpaque()
        let rc = uv_queue_work(raw, req, workCallback, afterWorkCallback)
        if rc < 0 {
            Unmanaged<WorkBox>.fromOpaque(req.pointee.data).release()
            req.deallocate()
        }
    }
}
