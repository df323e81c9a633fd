import Glibc
import UVCore

/// The demo scenario's users: a steady trickle of chat requests to the sidecar, a tenth of them
/// escalations, the rest FAQ and plain chat, each from its own user, so that `/stats`, the
/// dashboard and `modelflag gate` have something to judge. Plain blocking sockets on their own
/// thread; one request per connection (the demo is not a benchmark).
enum DemoTraffic {
    /// `clients` threads, each sending `perSecond` requests a second at most (one at a time).
    static func start(sidecar: SocketAddress, clients: Int, perSecond: Int) {
        for c in 0..<clients {
            _ = LoopThread.spawn {
                var i = c
                while true {
                    usleep(useconds_t(1_000_000 / max(1, perSecond)))
                    let intent = i % 10 == 0 ? "escalation" : i % 2 == 1 ? "faq" : "chat"
                    let body =
                        #"{"model":"chat","user":"user-\#(i % 500)","metadata":{"intent":"\#(intent)"},"messages":[{"role":"user","content":"question \#(i)"}]}"#
                    send(to: sidecar, body: body)
                    i += clients
                }
            }
        }
    }

    private static func send(to address: SocketAddress, body: String) {
        let fd = socket(Int32(address.family), Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard address.withSockaddr({ connect(fd, $0, $1) }) == 0 else { return }
        let request = Array(
            ("POST /v1/chat/completions HTTP/1.1\r\nHost: demo\r\nContent-Type: application/json\r\n"
                + "Connection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body).utf8)
        guard request.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) > 0 else {
            return
        }
        var buf = [UInt8](repeating: 0, count: 16384)
        while buf.withUnsafeMutableBytes({ recv(fd, $0.baseAddress, $0.count, 0) }) > 0 {}
    }
}
