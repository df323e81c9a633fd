import CLibUV
import Glibc

public protocol TCPListenerDelegate: AnyObject {
    /// A new connection; the delegate takes ownership of `stream` (and must close it eventually).
    func listenerAccepted(_ listener: TCPListener, _ stream: TCPStream)
}

/// A listening TCP socket.
///
/// The socket is created here rather than by `uv_tcp_bind`, so that `SO_REUSEPORT` can be set before
/// bind: several loops (workers) then each own a listener on the same port and the kernel spreads
/// connections between them. libuv 1.44 (Debian 12) has no flag for it.
public final class TCPListener: Handle {
    public var delegate: (any TCPListenerDelegate)?
    public private(set) var address: SocketAddress

    public init(loop: Loop, address: SocketAddress, reusePort: Bool, backlog: Int32 = 1024) throws(UVError) {
        self.address = address
        super.init(loop: loop, type: UV_TCP)
        try UVError.check(uv_tcp_init(loop.raw, raw.assumingMemoryBound(to: uv_tcp_t.self)))
        didOpen()
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 {
            close()
            throw UVError(-errno)
        }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if reusePort {
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        let brc = address.withSockaddr { bind(fd, $0, address.length) }
        if brc != 0 {
            let e = errno
            Glibc.close(fd)
            close()
            throw UVError(-e)
        }
        let tcp = raw.assumingMemoryBound(to: uv_tcp_t.self)
        var rc = uv_tcp_open(tcp, fd)
        if rc == 0 {
            rc = uv_listen(raw.assumingMemoryBound(to: uv_stream_t.self), backlog, connectionCallback)
        }
        if rc < 0 {
            close()
            throw UVError(rc)
        }
        // Learn the port the kernel chose for port 0.
        var storage = sockaddr_storage()
        var len = Int32(MemoryLayout<sockaddr_storage>.size)
        let nrc = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { uv_tcp_getsockname(tcp, $0, &len) }
        }
        if nrc == 0 { self.address = SocketAddress(storage: storage) }
    }

    func acceptPending(_ status: Int32) {
        guard status == 0, !isClosing else { return }
        guard let client = try? TCPStream(loop: loop) else { return }
        if uv_accept(raw.assumingMemoryBound(to: uv_stream_t.self), client.stream) != 0 {
            client.close()
            return
        }
        if let delegate {
            delegate.listenerAccepted(self, client)
        } else {
            client.close()
        }
    }

    public override func handleDidClose() {
        delegate = nil
    }
}
