import CLibUV

/// Base of every libuv handle wrapper.
///
/// Ownership follows libuv's two-step close: while the handle is open, `handle.data` holds +1 on
/// this object; `close()` calls `uv_close`, and only the close callback drops that reference, so
/// the memory libuv uses stays valid until libuv is done with it. The handle memory is allocated on
/// its own (never a stored property) and freed in `deinit`, which runs after the close callback.
/// `close()` is idempotent; `deinit` never calls `uv_close`.
open class Handle {
    public let loop: Loop
    let raw: UnsafeMutableRawPointer
    public private(set) var isClosing = false
    private var isOpen = false

    init(loop: Loop, type: uv_handle_type) {
        self.loop = loop
        raw = .allocate(byteCount: uv_handle_size(type), alignment: 16)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: uv_handle_size(type))
    }

    var handle: UnsafeMutablePointer<uv_handle_t> { raw.assumingMemoryBound(to: uv_handle_t.self) }

    /// Called once the `uv_*_init` call succeeded: the handle now owns +1 on `self`.
    func didOpen() {
        isOpen = true
        handle.pointee.data = Unmanaged.passRetained(self).toOpaque()
    }

    /// Starts closing the handle. Pending callbacks are cancelled by libuv; `handleDidClose()` runs later.
    public func close() {
        if markClosing() { uv_close(handle, handleCloseCallback) }
    }

    /// Marks the handle closing; false when it was never opened or is closing already.
    func markClosing() -> Bool {
        guard isOpen, !isClosing else { return false }
        isClosing = true
        return true
    }

    /// Runs in the close callback. Subclasses drop their callbacks and delegates here.
    open func handleDidClose() {}

    /// Whether the handle keeps the loop alive.
    public func unref() { if isOpen { uv_unref(handle) } }

    deinit { raw.deallocate() }

    /// The object that owns a libuv handle.
    static func from(_ h: UnsafeRawPointer) -> Handle {
        let handle = h.assumingMemoryBound(to: uv_handle_t.self)
        return Unmanaged<Handle>.fromOpaque(handle.pointee.data).takeUnretainedValue()
    }
}
