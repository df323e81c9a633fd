import Glibc

final class ThreadBody {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

/// A plain OS thread for running one loop per worker.
///
/// Created with `pthread_create` from Swift rather than `uv_thread_create`, so that sanitizers see
/// the thread being born (libuv's own call bypasses ThreadSanitizer's interceptor).
public struct LoopThread: @unchecked Sendable {
    private var tid = pthread_t()

    public static func spawn(_ body: @escaping @Sendable () -> Void) -> LoopThread {
        guard let thread = trySpawn(body) else { preconditionFailure("pthread_create failed: errno \(errno)") }
        return thread
    }

    /// The same, or nil when the system refuses another thread (EAGAIN at a thread limit).
    public static func trySpawn(_ body: @escaping @Sendable () -> Void) -> LoopThread? {
        var thread = LoopThread()
        let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        let rc = pthread_create(
            &thread.tid, nil,
            { arg in
                let box = Unmanaged<ThreadBody>.fromOpaque(arg!).takeRetainedValue()
                box.body()
                return nil
            }, box)
        guard rc == 0 else {
            Unmanaged<ThreadBody>.fromOpaque(box).release()
            errno = rc
            return nil
        }
        return thread
    }

    public func join() {
        pthread_join(tid, nil)
    }

    /// Lets the thread end on its own (nobody joins it).
    public func detach() {
        pthread_detach(tid)
    }
}
