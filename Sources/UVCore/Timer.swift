import CLibUV

/// A one-shot or repeating timer. The callback runs on the loop thread; it is dropped on close.
public final class Timer: Handle {
    private var callback: (() -> Void)?

    public init(loop: Loop, _ callback: @escaping () -> Void) throws(UVError) {
        self.callback = callback
        super.init(loop: loop, type: UV_TIMER)
        try UVError.check(uv_timer_init(loop.raw, timer))
        didOpen()
    }

    var timer: UnsafeMutablePointer<uv_timer_t> { raw.assumingMemoryBound(to: uv_timer_t.self) }

    /// (Re)arms the timer: first after `ms`, then every `repeatMs` when that is not 0.
    public func start(ms: UInt64, repeatMs: UInt64 = 0) {
        guard !isClosing else { return }
        uv_timer_start(timer, timerCallback, ms, repeatMs)
    }

    public func stop() {
        guard !isClosing else { return }
        uv_timer_stop(timer)
    }

    public var isActive: Bool { !isClosing && uv_is_active(handle) != 0 }

    func fire() { callback?() }

    public override func handleDidClose() { callback = nil }
}
