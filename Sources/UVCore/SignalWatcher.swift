import CLibUV

/// Delivers a POSIX signal on the loop thread (libuv turns it into a loop event).
public final class SignalWatcher: Handle {
    private var callback: ((Int32) -> Void)?

    public init(loop: Loop, signal: Int32, _ callback: @escaping (Int32) -> Void) throws(UVError) {
        self.callback = callback
        super.init(loop: loop, type: UV_SIGNAL)
        let h = raw.assumingMemoryBound(to: uv_signal_t.self)
        try UVError.check(uv_signal_init(loop.raw, h))
        didOpen()
        let rc = uv_signal_start(h, signalCallback, signal)
        if rc < 0 {
            close()
            throw UVError(rc)
        }
    }

    func fire(_ signum: Int32) { callback?(signum) }

    public override func handleDidClose() { callback = nil }
}
