/// Where and how output records are written (issue 5: version-tagged output records).
public struct RecordConfig: Sendable {
    public enum Fsync: Sendable, Equatable {
        /// fsync at most every N milliseconds while records are written (default 1 s).
        case interval(UInt64)
        /// fsync after every batch the writer takes from the queue.
        case always
        /// never fsync (the kernel flushes); still fsync on rotation and close.
        case never
    }

    /// Directory of the active file and the rotated ones.
    public var directory: String
    /// Active file name; rotated files are `<stem>-<UTC>-<seq>.jsonl`, outside a `records.jsonl` glob.
    public var activeName = "records.jsonl"
    /// Rotate when the active file would grow past this many bytes.
    public var maxFileBytes = 64 << 20
    /// Rotate when the active file has held records for this long (since this process opened it);
    /// 0 = by size only. Bounds how late a collector that ships whole files sees a record.
    public var maxFileAgeMs: UInt64 = 0
    public var fsync = Fsync.interval(1_000)
    /// Records waiting for the writer thread; beyond it new records are dropped and counted.
    public var queueCapacity = 65_536
    /// Bytes of records waiting for the writer thread at most (with `queueCapacity`, whichever
    /// comes first): what a stalled disk can cost in memory, never more.
    public var queueBytes = 64 << 20
    /// Rotated files kept at most (oldest deleted first); 0 keeps all.
    public var retainFiles = 0
    /// Bytes of rotated files kept at most (oldest deleted first); 0 keeps all.
    public var retainBytes = 0
    /// A rotated file younger than this is never deleted, so a tailer can finish reading it.
    public var retentionGraceSeconds = 60
    /// Records fsynced at least this long ago leave the page cache (`posix_fadvise` DONTNEED):
    /// a collector tails them within moments, and the pod's memory (page cache counts against
    /// its cgroup) does not grow by every byte written. 0 keeps them cached (the kernel evicts
    /// them when it needs the memory). Needs fsync (`interval` or `always`): dirty pages stay.
    public var dropCachedAfterMs: UInt64 = 2_000

    public init(directory: String) { self.directory = directory }

    public var activePath: String { directory + "/" + activeName }
    var stem: String { activeName.hasSuffix(".jsonl") ? String(activeName.dropLast(6)) : activeName }
}
