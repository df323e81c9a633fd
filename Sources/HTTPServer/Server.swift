import HTTP1
import UVCore

/// A listening HTTP/1.1 server on one loop: accepts connections, gives each a handler, tracks them
/// for draining.
///
/// Drain (SIGTERM): the listener closes (new connections are refused by the kernel), idle
/// keep-alive connections close at once, busy ones finish their exchange with `Connection: close`.
/// `onDrained` runs when the last connection is gone.
public final class Server: TCPListenerDelegate {
    public let loop: Loop
    public let config: ServerConfig
    public let name: String
    private var listener: TCPListener?
    private let makeHandler: (ServerConnection) -> any ConnectionHandler
    private var connections: [ObjectIdentifier: ServerConnection] = [:]
    public weak var observer: (any ServerObserver)?
    public private(set) var isDraining = false
    /// Shutdown was requested but the listener stays open for a while (`--shutdown-delay`):
    /// responses carry `Connection: close` so clients move to other endpoints.
    public var preferClose = false
    public var onDrained: (() -> Void)?
    var requestIds = RequestIdGenerator()

    public init(
        loop: Loop, name: String, address: SocketAddress, reusePort: Bool, config: ServerConfig,
        makeHandler: @escaping (ServerConnection) -> any ConnectionHandler
    ) throws(UVError) {
        self.loop = loop
        self.name = name
        self.config = config
        self.makeHandler = makeHandler
        let l = try TCPListener(loop: loop, address: address, reusePort: reusePort)
        listener = l
        l.delegate = self
    }

    /// The bound address (the real port when 0 was asked for).
    public var address: SocketAddress? { listener?.address }
    public var connectionCount: Int { connections.count }

    public func listenerAccepted(_ listener: TCPListener, _ stream: TCPStream) {
        if isDraining {
            stream.close()
            return
        }
        let conn = ServerConnection(stream: stream, server: self)
        connections[ObjectIdentifier(conn)] = conn
        observer?.connectionOpened()
        if connections.count > config.maxConnections {
            conn.respondError(
                status: 503, code: "too_many_connections", message: "connection limit reached (--max-connections)",
                close: true)
            return
        }
        conn.handler = makeHandler(conn)
    }

    func connectionDidClose(_ conn: ServerConnection) {
        if connections.removeValue(forKey: ObjectIdentifier(conn)) != nil {
            observer?.connectionClosedCount()
        }
        if isDraining && connections.isEmpty { finishDrain() }
    }

    /// Stops accepting and lets in-flight exchanges finish.
    public func beginDrain() {
        guard !isDraining else { return }
        isDraining = true
        listener?.close()
        listener = nil
        for conn in Array(connections.values) { conn.beginDrain() }
        if connections.isEmpty { finishDrain() }
    }

    /// Drain deadline: abort whatever is still open.
    public func abortAll() {
        for conn in Array(connections.values) { conn.abortResponse() }
    }

    private var drainedNotified = false
    private func finishDrain() {
        guard !drainedNotified else { return }
        drainedNotified = true
        let cb = onDrained
        onDrained = nil
        cb?()
    }

    /// Closes the listener only (used by tests and shutdown).
    public func closeListener() {
        listener?.close()
        listener = nil
    }
}
