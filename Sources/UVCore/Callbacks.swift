import CLibUV

// Every C callback UVCore hands to libuv lives in this file. Each one captures nothing, recovers the
// Swift object from the handle's `data` pointer (or from the request's handle), and forwards to a
// method. The close callback drops the +1 the open handle held and poisons `data`.

func handleCloseCallback(_ h: UnsafeMutablePointer<uv_handle_t>?) {
    guard let h, let data = h.pointee.data else { return }
    h.pointee.data = nil
    let object = Unmanaged<Handle>.fromOpaque(data).takeRetainedValue()
    object.handleDidClose()
}

func walkCloseCallback(_ h: UnsafeMutablePointer<uv_handle_t>?, _ arg: UnsafeMutableRawPointer?) {
    guard let h, uv_is_closing(h) == 0 else { return }
    if let data = h.pointee.data {
        Unmanaged<Handle>.fromOpaque(data).takeUnretainedValue().close()
    } else {
        uv_close(h, nil)
    }
}

func allocCallback(_ h: UnsafeMutablePointer<uv_handle_t>?, _ suggested: Int, _ buf: UnsafeMutablePointer<uv_buf_t>?) {
    let loop = Unmanaged<Loop>.fromOpaque(h!.pointee.loop.pointee.data).takeUnretainedValue()
    buf!.pointee = uv_buf_init(loop.readBuffer.assumingMemoryBound(to: CChar.self), UInt32(Loop.readBufferSize))
}

func readCallback(_ s: UnsafeMutablePointer<uv_stream_t>?, _ nread: Int, _ buf: UnsafePointer<uv_buf_t>?) {
    guard let s, let data = s.pointee.data else { return }
    Unmanaged<TCPStream>.fromOpaque(data).takeUnretainedValue().delivered(nread, buf?.pointee.base)
}

func writeCallback(_ req: UnsafeMutablePointer<uv_write_t>?, _ status: Int32) {
    guard let req else { return }
    let s = req.pointee.handle!
    UnsafeMutableRawPointer(req).deallocate()
    guard let data = s.pointee.data else { return }
    Unmanaged<TCPStream>.fromOpaque(data).takeUnretainedValue().writeFinished(status)
}

func connectCallback(_ req: UnsafeMutablePointer<uv_connect_t>?, _ status: Int32) {
    guard let req else { return }
    let s = req.pointee.handle!
    req.deallocate()
    guard let data = s.pointee.data else { return }
    let stream = Unmanaged<TCPStream>.fromOpaque(data).takeUnretainedValue()
    if stream.isClosing { return }
    stream.delegate?.streamConnected(stream, status < 0 ? UVError(status) : nil)
}

func shutdownCallback(_ req: UnsafeMutablePointer<uv_shutdown_t>?, _ status: Int32) {
    guard let req else { return }
    let s = req.pointee.handle!
    req.deallocate()
    guard let data = s.pointee.data else { return }
    let stream = Unmanaged<TCPStream>.fromOpaque(data).takeUnretainedValue()
    if stream.isClosing { return }
    stream.delegate?.streamShutdown(stream, status < 0 ? UVError(status) : nil)
}

func connectionCallback(_ s: UnsafeMutablePointer<uv_stream_t>?, _ status: Int32) {
    guard let s, let data = s.pointee.data else { return }
    Unmanaged<TCPListener>.fromOpaque(data).takeUnretainedValue().acceptPending(status)
}

func timerCallback(_ t: UnsafeMutablePointer<uv_timer_t>?) {
    guard let t, let data = t.pointee.data else { return }
    Unmanaged<Timer>.fromOpaque(data).takeUnretainedValue().fire()
}

func checkCallback(_ c: UnsafeMutablePointer<uv_check_t>?) {
    guard let c, let data = c.pointee.data else { return }
    Unmanaged<Check>.fromOpaque(data).takeUnretainedValue().fire()
}

func signalCallback(_ h: UnsafeMutablePointer<uv_signal_t>?, _ signum: Int32) {
    guard let h, let data = h.pointee.data else { return }
    Unmanaged<SignalWatcher>.fromOpaque(data).takeUnretainedValue().fire(signum)
}

func asyncCallback(_ h: UnsafeMutablePointer<uv_async_t>?) {
    guard let h, let data = h.pointee.data else { return }
    Unmanaged<AsyncWake>.fromOpaque(data).takeUnretainedValue().fire()
}

func fsEventCallback(
    _ h: UnsafeMutablePointer<uv_fs_event_t>?, _ filename: UnsafePointer<CChar>?, _ events: Int32, _ status: Int32
) {
    guard let h, let data = h.pointee.data else { return }
    let name = filename.flatMap { String(validatingCString: $0) }
    Unmanaged<FSWatcher>.fromOpaque(data).takeUnretainedValue().fire(name)
}
