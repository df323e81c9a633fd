import CLibUV

/// Runs a callback once per loop iteration, right after the poll phase (libuv's check handle):
/// work queued by I/O callbacks runs after every socket that was ready in that iteration has been
/// served. The proxy queues shadow copies here, so the served requests of a batch go out first.
/// Start it when there is work and stop it when the queue is empty; a stopped check costs nothing.
public final class Check: Handle {
    private var callback: (() -> Void)?

    public init(loop: Loop, _ callback: @escaping () -> Void) throws(UVError) {
        self.callback = callback
        super.init(loop: loop, type: UV_CHECK)
        try UVError.check(uv_check_init(loop.raw, check))
        didOpen()
    }

    var check: UnsafeMutablePointer<uv_check_t> { raw.assumingMemoryBound(to: uv_check_t.self) }

    public func start() {
        guard !isClosing, uv_is_active(handle) == 0 else { return }
        uv_check_start(check, checkCallback)
    }

    public func stop() {
        guard !isClosing else { return }
        uv_check_stop(check)
    }

    func fire() { callback?() }

    public override func handleDidClose() { callback = nil }
}
