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
