import CLibUV

final class ThreadBody {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

/// A plain OS thread (libuv's portable wrapper), for running one loop per worker.
public struct LoopThread: @unchecked Sendable {
    private var tid = uv_thread_t()

    public static func spawn(_ body: @escaping @Sendable () -> Void) -> LoopThread {
        var thread = LoopThread()
        let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        let rc = uv_thread_create(&thread.tid, threadEntry, box)
        precondition(rc == 0, "uv_thread_create failed: \(UVError(rc))")
        return thread
    }

    public func join() {
        var t = tid
        uv_thread_join(&t)
    }
}
