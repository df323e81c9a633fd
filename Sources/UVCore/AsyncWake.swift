import CLibUV

/// A cross-thread wake-up: any thread may call `waker.wake()`; the callback runs on the loop thread.
///
/// libuv coalesces wake-ups, so the callback must drain whatever queue the other thread filled.
public final class AsyncWake: Handle {
    private var callback: (() -> Void)?
    /// Runs once the handle closed (also when the loop closes it at shutdown): after it, a thread
    /// that still holds the `waker` must not use it.
    public var onClose: (() -> Void)?

    public init(loop: Loop, _ callback: @escaping () -> Void) throws(UVError) {
        self.callback = callback
        super.init(loop: loop, type: UV_ASYNC)
        try UVError.check(uv_async_init(loop.raw, raw.assumingMemoryBound(to: uv_async_t.self), asyncCallback))
        didOpen()
    }

    /// The thread-safe half. Valid while the handle is open; close it only after other threads stopped waking it.
    public var waker: Waker { Waker(raw: raw) }

    func fire() { callback?() }

    public override func handleDidClose() {
        callback = nil
        onClose?()
        onClose = nil
    }
}

/// A `Sendable` token to wake an `AsyncWake` from another thread.
public struct Waker: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer
    public func wake() {
        uv_async_send(raw.assumingMemoryBound(to: uv_async_t.self))
    }
}
