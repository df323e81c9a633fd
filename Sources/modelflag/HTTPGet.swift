import Glibc
import HTTP1
import UVCore

/// A plain blocking HTTP/1.1 GET with a timeout, for the CLI's gate sources (sidecars' `/stats`,
/// Prometheus' query API): the CLI is a pipeline step, not part of the request path. The answer
/// is read with the project's own response parser and chunked decoder.
enum HTTPGet {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func get(_ hostPort: String, path: String, timeoutSeconds: Int) throws -> [UInt8] {
        guard let address = try? SocketAddress(hostPort) else {
            throw HTTPGet.Failure(description: "cannot resolve \(hostPort)")
        }
        let fd = socket(Int32(address.family), Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HTTPGet.Failure(description: "socket: errno \(errno)") }
        defer { close(fd) }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let connected = address.withSockaddr { connect(fd, $0, $1) }
        guard connected == 0 else {
            throw HTTPGet.Failure(description: "cannot connect to \(hostPort): errno \(errno)")
        }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(hostPort)\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else {
            throw HTTPGet.Failure(description: "cannot send to \(hostPort)")
        }
        var response: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while response.count < 64 << 20 {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response.append(contentsOf: buf[0..<n])
        }
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = response.indices.first(where: { response[$0...].starts(with: separator) }) else {
            throw HTTPGet.Failure(description: "\(hostPort)\(path): no HTTP answer")
        }
        // Our own response parser and chunked decoder: Prometheus chunks larger answers.
        let head: ResponseHead
        do {
            head = try response[..<(end + 4)].withUnsafeBytes { try ResponseHead.parse($0, limits: Limits()) }
        } catch {
            throw HTTPGet.Failure(description: "\(hostPort)\(path): bad HTTP answer (\(error))")
        }
        guard head.status == 200 else { throw HTTPGet.Failure(description: "\(hostPort)\(path): HTTP \(head.status)") }
        let rest = Array(response[(end + 4)...])
        guard head.chunked else { return head.contentLength.map { Array(rest.prefix($0)) } ?? rest }
        var decoder = ChunkedDecoder(maxBody: 64 << 20)
        var body: [UInt8] = []
        let result = rest.withUnsafeBytes { decoder.decode($0) { body.append(contentsOf: $0) } }
        guard case .done = result else {
            throw HTTPGet.Failure(description: "\(hostPort)\(path): truncated chunked answer")
        }
        return body
    }
}
