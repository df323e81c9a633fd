import CLibUV
import Glibc

/// What a TCP stream reports to its owner. All calls come on the stream's loop thread.
public protocol TCPStreamDelegate: AnyObject {
    /// Bytes arrived. The buffer is the loop's shared read buffer: valid only during this call.
    func streamRead(_ stream: TCPStream, _ bytes: UnsafeRawBufferPointer)
    /// The peer closed (`UV_EOF`) or the read failed.
    func streamReadEnded(_ stream: TCPStream, _ error: UVError)
    /// A queued write finished; `error` is set when it failed. Called after the queue shrank.
    func streamWriteCompleted(_ stream: TCPStream, _ error: UVError?)
    /// `connect(to:)` finished.
    func streamConnected(_ stream: TCPStream, _ error: UVError?)
    /// `shutdown()` finished: everything queued was written and our FIN was sent.
    func streamShutdown(_ stream: TCPStream, _ error: UVError?)
}

extension TCPStreamDelegate {
    public func streamWriteCompleted(_ stream: TCPStream, _ error: UVError?) {}
    public func streamConnected(_ stream: TCPStream, _ error: UVError?) {}
    public func streamShutdown(_ stream: TCPStream, _ error: UVError?) {}
}

/// A TCP connection on one loop.
///
/// Writes first try `uv_try_write`, which on loopback usually sends everything at once with no copy.
/// Only the part the kernel did not take is copied into a single allocation that also holds the
/// `uv_write_t` request; it is freed in the write callback. So the caller's buffers never need to
/// outlive the call. `writeQueueSize` is what is still held in memory, for backpressure.
///
/// The delegate is a strong reference that is dropped when the handle closes, which breaks the
/// owner ↔ stream cycle at the one moment the stream can no longer call back.
public final class TCPStream: Handle {
    public var delegate: (any TCPStreamDelegate)?
    public private(set) var isReading = false
    /// Writes queued in libuv and not completed yet.
    public private(set) var pendingWrites = 0

    public init(loop: Loop) throws(UVError) {
        super.init(loop: loop, type: UV_TCP)
        try UVError.check(uv_tcp_init(loop.raw, tcp))
        didOpen()
    }

    var tcp: UnsafeMutablePointer<uv_tcp_t> { raw.assumingMemoryBound(to: uv_tcp_t.self) }
    var stream: UnsafeMutablePointer<uv_stream_t> { raw.assumingMemoryBound(to: uv_stream_t.self) }

    /// Disables Nagle: every write goes out at once, which streaming needs.
    public func setNoDelay(_ on: Bool = true) {
        uv_tcp_nodelay(tcp, on ? 1 : 0)
    }

    public func startReading() {
        guard !isReading, !isClosing else { return }
        if uv_read_start(stream, allocCallback, readCallback) == 0 { isReading = true }
    }

    public func stopReading() {
        guard isReading else { return }
        uv_read_stop(stream)
        isReading = false
    }

    /// Lets the kernel keep incoming bytes until `bytes` of them are buffered before the loop is
    /// woken to read (`SO_RCVLOWAT`; 1 is the default). The peer's close and errors still wake it
    /// at once; bytes below the mark wait for `readAvailable()`. For streams nobody waits on
    /// event by event (a shadow's answer): each wake-up costs the loop a context switch, and a
    /// stream of small events would wake it once per event. False when the socket refused it.
    @discardableResult
    public func setReceiveLowWater(_ bytes: Int) -> Bool {
        var fd: uv_os_fd_t = -1
        guard uv_fileno(handle, &fd) == 0 else { return false }
        var value = Int32(clamping: max(1, bytes))
        return setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &value, socklen_t(MemoryLayout<Int32>.size)) == 0
    }

    /// Reads what the kernel holds for this stream now, without waiting to be woken, and reports
    /// it as reads do: bytes to `streamRead`, the peer's close or an error to `streamReadEnded`.
    /// Does nothing unless the stream is reading. Stops when the kernel has no more or the
    /// delegate stopped reading or closed the stream. Reads into the loop's shared read buffer,
    /// so never call it from inside a `streamRead` (a timer's callback is the place).
    public func readAvailable() {
        var fd: uv_os_fd_t = -1
        guard uv_fileno(handle, &fd) == 0 else { return }
        let buffer = loop.readBuffer
        while isReading && !isClosing {
            let n = recv(fd, buffer, Loop.readBufferSize, Int32(MSG_DONTWAIT))
            let result = n > 0 ? n : n == 0 ? Int(UV_EOF.rawValue) : Int(-errno)
            if result == -Int(EAGAIN) || result == -Int(EWOULDBLOCK) || result == -Int(EINTR) { return }
            delivered(result, buffer)
        }
    }

    /// What a read gave, as libuv reports it (`nread > 0` bytes in `buffer`, `< 0` EOF or an
    /// error), to the delegate: from `readCallback` and from `readAvailable`, one path.
    func delivered(_ nread: Int, _ buffer: UnsafeRawPointer?) {
        if nread > 0 {
            delegate?.streamRead(self, UnsafeRawBufferPointer(start: buffer, count: nread))
        } else if nread < 0 {
            // EOF or error: libuv stops reading by itself on error; make our flag agree.
            stopReading()
            delegate?.streamReadEnded(self, UVError(Int32(nread)))
        }
        // nread == 0 means "nothing now" (EAGAIN), not EOF.
    }

    /// Bytes accepted by `write` but not yet handed to the kernel.
    public var writeQueueSize: Int { uv_stream_get_write_queue_size(stream) }

    /// Writes up to four buffers in order, in one system call when the kernel takes them all.
    /// Returns the error when the stream is already broken.
    @discardableResult
    public func write(
        _ a: UnsafeRawBufferPointer,
        _ b: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
        _ c: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
        _ d: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    ) -> UVError? {
        if isClosing { return .canceled }
        let total = a.count + b.count + c.count + d.count
        if total == 0 { return nil }
        var written = 0
        if pendingWrites == 0 {
            var bufs = (uvBuf(a), uvBuf(b), uvBuf(c), uvBuf(d))
            let rc = withUnsafeMutableBytes(of: &bufs) { p in
                uv_try_write(stream, p.baseAddress!.assumingMemoryBound(to: uv_buf_t.self), 4)
            }
            if rc >= 0 {
                written = Int(rc)
                if written == total { return nil }
            } else if rc != UV_EAGAIN.rawValue {
                return UVError(rc)
            }
        }
        // Queue the rest: one allocation holds the request and the bytes.
        let rest = total - written
        let reqSize = MemoryLayout<uv_write_t>.stride
        let mem = UnsafeMutableRawPointer.allocate(byteCount: reqSize + rest, alignment: 16)
        var dst = mem + reqSize
        var skip = written
        for part in [a, b, c, d] where part.count > 0 {
            if skip >= part.count {
                skip -= part.count
                continue
            }
            let n = part.count - skip
            dst.copyMemory(from: part.baseAddress! + skip, byteCount: n)
            dst += n
            skip = 0
        }
        let req = mem.bindMemory(to: uv_write_t.self, capacity: 1)
        var buf = uv_buf_init((mem + reqSize).assumingMemoryBound(to: CChar.self), UInt32(rest))
        let rc = uv_write(req, stream, &buf, 1, writeCallback)
        if rc < 0 {
            mem.deallocate()
            return UVError(rc)
        }
        pendingWrites += 1
        return nil
    }

    @inline(__always)
    private func uvBuf(_ p: UnsafeRawBufferPointer) -> uv_buf_t {
        uv_buf_init(UnsafeMutablePointer(mutating: p.baseAddress?.assumingMemoryBound(to: CChar.self)), UInt32(p.count))
    }

    /// Writes a byte array (convenience for cold paths).
    @discardableResult
    public func write(_ bytes: [UInt8]) -> UVError? {
        bytes.withUnsafeBytes { write($0) }
    }

    func writeFinished(_ status: Int32) {
        pendingWrites -= 1
        delegate?.streamWriteCompleted(self, status < 0 ? UVError(status) : nil)
    }

    public func connect(to address: SocketAddress) -> UVError? {
        let req = UnsafeMutablePointer<uv_connect_t>.allocate(capacity: 1)
        let rc = address.withSockaddr { uv_tcp_connect(req, tcp, $0, connectCallback) }
        if rc < 0 {
            req.deallocate()
            return UVError(rc)
        }
        return nil
    }

    /// Sends FIN after every queued write; the delegate hears `streamShutdown`.
    public func shutdown() -> UVError? {
        let req = UnsafeMutablePointer<uv_shutdown_t>.allocate(capacity: 1)
        let rc = uv_shutdown(req, stream, shutdownCallback)
        if rc < 0 {
            req.deallocate()
            return UVError(rc)
        }
        return nil
    }

    /// Closes with RST instead of FIN (for aborting a stream so the peer cannot mistake it for a clean end).
    public func closeReset() {
        guard markClosing() else { return }
        if uv_tcp_close_reset(tcp, handleCloseCallback) != 0 {
            uv_close(handle, handleCloseCallback)
        }
    }

    /// The remote address, or nil for an unconnected socket.
    public func peerAddress() -> SocketAddress? {
        var storage = sockaddr_storage()
        var len = Int32(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { uv_tcp_getpeername(tcp, $0, &len) }
        }
        return rc == 0 ? SocketAddress(storage: storage) : nil
    }

    /// The local address (e.g. the port the kernel picked).
    public func localAddress() -> SocketAddress? {
        var storage = sockaddr_storage()
        var len = Int32(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { uv_tcp_getsockname(tcp, $0, &len) }
        }
        return rc == 0 ? SocketAddress(storage: storage) : nil
    }

    public override func handleDidClose() {
        delegate = nil
    }
}
