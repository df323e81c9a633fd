import CLibUV

/// One libuv event loop, owned by exactly one thread.
///
/// Every handle created on a loop must be used only from the thread that runs it. The loop also owns
/// one shared read buffer: libuv reads into it and the read callback consumes the bytes before it
/// returns, so one buffer per loop is enough and reads allocate nothing.
public final class Loop {
    public let raw: UnsafeMutablePointer<uv_loop_t>
    /// The shared read buffer handed to libuv by the allocation callback.
    let readBuffer: UnsafeMutableRawPointer
    public static let readBufferSize = 64 * 1024

    public init() throws(UVError) {
        raw = .allocate(capacity: 1)
        let rc = uv_loop_init(raw)
        if rc < 0 {
            raw.deallocate()
            throw UVError(rc)
        }
        readBuffer = .allocate(byteCount: Loop.readBufferSize, alignment: 16)
        raw.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    /// Runs until no active handles remain or `stop()` is called.
    public func run() {
        uv_run(raw, UV_RUN_DEFAULT)
    }

    /// Runs one iteration without blocking (tests use it to let callbacks fire).
    @discardableResult
    public func runOnce(wait: Bool = true) -> Bool {
        uv_run(raw, wait ? UV_RUN_ONCE : UV_RUN_NOWAIT) != 0
    }

    public func stop() { uv_stop(raw) }

    /// The loop's cached clock in milliseconds (updated once per iteration).
    public var now: UInt64 { uv_now(raw) }

    /// A monotonic clock in nanoseconds.
    public static func hrtime() -> UInt64 { uv_hrtime() }

    /// Closes every handle still open, runs the loop until they have all closed, and closes the loop.
    /// Returns 0 when the loop closed cleanly (nothing leaked), or the libuv error (UV_EBUSY).
    @discardableResult
    public func closeAll() -> Int32 {
        uv_walk(raw, walkCloseCallback, nil)
        var rc: Int32 = 0
        for _ in 0..<100 {
            uv_run(raw, UV_RUN_NOWAIT)
            rc = uv_loop_close(raw)
            if rc == 0 { break }
        }
        return rc
    }

    deinit {
        readBuffer.deallocate()
        raw.deallocate()
    }
}
