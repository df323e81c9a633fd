import Glibc

/// File-level helpers: opening the active file with O_APPEND, repairing a torn last line, naming
/// rotated files. Used by the writer thread only.
enum RecordFile {
    /// After a crash the last line may be cut short. Everything after the last newline is moved to
    /// `<active>.torn-<UTC>` and the file is truncated to end at that newline, so no two records
    /// ever share a line. Returns the number of bytes moved aside.
    static func repair(_ path: String) -> Int {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size > 0 else { return 0 }
        let size = Int(st.st_size)
        // Find the last newline, reading backwards in blocks.
        var end = size
        var lastNewline = -1
        var buf = [UInt8](repeating: 0, count: 65_536)
        while end > 0 && lastNewline < 0 {
            let start = max(0, end - buf.count)
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, end - start, off_t(start)) }
            guard n > 0 else { return 0 }
            if let i = buf[0..<n].lastIndex(of: 0x0A) { lastNewline = start + i }
            end = start
        }
        let keep = lastNewline + 1
        guard keep < size else { return 0 }  // ends with a newline: nothing torn
        var fragment = [UInt8](repeating: 0, count: size - keep)
        let got = fragment.withUnsafeMutableBytes { pread(fd, $0.baseAddress, size - keep, off_t(keep)) }
        if got > 0 {
            let tornPath = path + ".torn-" + utcStamp()
            let tfd = open(tornPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            if tfd >= 0 {
                _ = fragment.withUnsafeBytes { write(tfd, $0.baseAddress, got) }
                fsync(tfd)
                close(tfd)
            }
        }
        ftruncate(fd, off_t(keep))
        fsync(fd)
        return size - keep
    }

    static func openAppend(_ path: String) -> Int32 {
        open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    }

    static func size(_ fd: Int32) -> Int {
        var st = stat()
        return fstat(fd, &st) == 0 ? Int(st.st_size) : 0
    }

    /// `20261125T181502Z` for file names.
    static func utcStamp() -> String {
        var t = time(nil)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return
            "\(tmv.tm_year + 1900)\(two(tmv.tm_mon + 1))\(two(tmv.tm_mday))T\(two(tmv.tm_hour))\(two(tmv.tm_min))\(two(tmv.tm_sec))Z"
    }

    /// Deletes the oldest rotated files beyond `retainFiles` / `retainBytes`, never one younger
    /// than the grace period, never the active file.
    static func applyRetention(_ config: RecordConfig) {
        guard config.retainFiles > 0 || config.retainBytes > 0 else { return }
        guard let dir = opendir(config.directory) else { return }
        var rotated: [(path: String, mtime: Int, size: Int)] = []
        let prefix = config.stem + "-"
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.hasPrefix(prefix), name.hasSuffix(".jsonl") else { continue }
            let path = config.directory + "/" + name
            var st = stat()
            guard stat(path, &st) == 0 else { continue }
            rotated.append((path, Int(st.st_mtim.tv_sec), Int(st.st_size)))
        }
        closedir(dir)
        rotated.sort { $0.mtime < $1.mtime }
        // Fine-grained wall time: file systems with multigrain timestamps (Linux 6.13+) can stamp
        // a file a tick ahead of the coarse clock `time()` reads.
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let now = Int(ts.tv_sec)
        var count = rotated.count
        var bytes = rotated.reduce(0) { $0 + $1.size }
        for f in rotated {
            let overCount = config.retainFiles > 0 && count > config.retainFiles
            let overBytes = config.retainBytes > 0 && bytes > config.retainBytes
            guard overCount || overBytes else { break }
            guard max(0, now - f.mtime) >= config.retentionGraceSeconds else { break }  // too young: keep
            if unlink(f.path) == 0 {
                count -= 1
                bytes -= f.size
            }
        }
    }

    /// `mkdir -p` (mode 0755): a missing records directory is created, as users expect of
    /// `--records-dir`. Errors surface when the file is opened.
    static func makeDirectories(_ path: String) {
        var prefix = ""
        for part in path.split(separator: "/", omittingEmptySubsequences: false) {
            prefix += prefix.isEmpty && part.isEmpty ? "/" : (prefix.isEmpty || prefix == "/" ? "" : "/") + part
            if !prefix.isEmpty && prefix != "/" { mkdir(prefix, 0o755) }
        }
    }
}
