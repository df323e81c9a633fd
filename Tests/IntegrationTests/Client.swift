import Foundation

/// A parsed HTTP response as a test sees it.
struct Response {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]
    var bodyText: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// A blocking TCP client over a real socket, with a receive timeout so a test never hangs.
final class Client {
    let fd: Int32
    private var buffer: [UInt8] = []
    private(set) var eof = false

    init(port: UInt16, timeout: Double = 10) throws {
        // CLOEXEC: tests run in parallel and spawn processes; a child that inherited this socket
        // would keep the connection open after `close(fd)` (the sidecar never sees the client go).
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))  // bounds connect too
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 {
            close(fd)
            throw HarnessError.io("connect to \(port) failed: errno \(errno)")
        }
    }

    deinit { close(fd) }

    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }

    /// Reads more bytes into the buffer; false on EOF, error or timeout.
    @discardableResult
    func fill() -> Bool {
        var tmp = [UInt8](repeating: 0, count: 65536)
        let n = tmp.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 {
            eof = true
            return false
        }
        buffer.append(contentsOf: tmp[0..<n])
        return true
    }

    /// Reads whatever arrives next (one read), as text.
    func readChunk() -> String {
        if buffer.isEmpty { fill() }
        let s = String(decoding: buffer, as: UTF8.self)
        buffer.removeAll()
        return s
    }

    /// Reads until the peer closes (or the timeout), returning everything.
    func readToEnd() -> [UInt8] {
        while fill() {}
        let all = buffer
        buffer.removeAll()
        return all
    }

    /// True when the server closed the connection (reads EOF within the timeout).
    func isClosedByPeer() -> Bool {
        if !buffer.isEmpty { return false }
        return !fill() && eof
    }

    func request(_ text: String, headRequest: Bool = false) throws -> Response {
        send(text)
        return try readResponse(headRequest: headRequest)
    }

    /// Reads one response: head, then a body delimited by Content-Length, chunked, or close.
    func readResponse(headRequest: Bool = false) throws -> Response {
        var headEnd: Int?
        while headEnd == nil {
            if let r = find(Array("\r\n\r\n".utf8)) {
                headEnd = r
            } else if !fill() {
                throw HarnessError.io(
                    "no response head; got \(String(decoding: buffer, as: UTF8.self).debugDescription)")
            }
        }
        let headText = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
        buffer.removeSubrange(0..<(headEnd! + 4))
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else {
            throw HarnessError.io("bad status line \(statusLine)")
        }
        var headers: [(String, String)] = []
        for l in lines {
            guard let c = l.firstIndex(of: ":") else { continue }
            headers.append((String(l[..<c]), l[l.index(after: c)...].trimmingCharacters(in: .whitespaces)))
        }
        var response = Response(status: status, headers: headers, body: [])
        if status == 100 { return try readResponse(headRequest: headRequest) }
        if headRequest || status == 204 || status == 304 { return response }
        if let cl = response.header("content-length"), let n = Int(cl) {
            while buffer.count < n { if !fill() { throw HarnessError.io("short body") } }
            response.body = Array(buffer[0..<n])
            buffer.removeSubrange(0..<n)
        } else if response.header("transfer-encoding")?.lowercased() == "chunked" {
            response.body = try readChunked()
        } else {
            response.body = readToEnd()
        }
        return response
    }

    private func readChunked() throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            var lineEnd = find(Array("\r\n".utf8))
            while lineEnd == nil {
                if !fill() { throw HarnessError.io("chunked body cut") }
                lineEnd = find(Array("\r\n".utf8))
            }
            let sizeText = String(decoding: buffer[0..<lineEnd!], as: UTF8.self)
            guard let size = Int(sizeText, radix: 16) else { throw HarnessError.io("bad chunk size \(sizeText)") }
            buffer.removeSubrange(0..<(lineEnd! + 2))
            while buffer.count < size + 2 { if !fill() { throw HarnessError.io("chunk cut") } }
            body.append(contentsOf: buffer[0..<size])
            buffer.removeSubrange(0..<(size + 2))
            if size == 0 { return body }
        }
    }

    private func find(_ needle: [UInt8]) -> Int? {
        guard buffer.count >= needle.count else { return nil }
        for i in 0...(buffer.count - needle.count) where buffer[i] == needle[0] {
            if Array(buffer[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }
}

let chatBody = #"{"model":"stable","messages":[{"role":"user","content":"hello there"}],"user":"u1"}"#

func chatRequest(_ body: String = chatBody, extra: String = "") -> String {
    "POST /v1/chat/completions HTTP/1.1\r\nHost: model\r\nContent-Type: application/json\r\n\(extra)Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
}
