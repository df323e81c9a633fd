import Glibc
import HTTPServer
import UVCore

/// Runs stand-in model servers.
public enum StandInServer {
    /// Starts one on an existing loop (the demo runs several on one thread).
    public static func start(loop: Loop, address: SocketAddress, options: StandInOptions) throws(UVError) -> Server {
        var config = ServerConfig()
        config.keepAliveTimeoutMs = 300_000
        let server = try Server(loop: loop, name: "stand-in", address: address, reusePort: false, config: config) { _ in
            StandInHandler(options: options)
        }
        Log.write(.info, "listening") {
            $0.field("role", "stand-in")
            $0.field("model", options.model)
            $0.field("addr", (server.address ?? address).description)
        }
        return server
    }

    /// `modelflag stub-model`: runs until SIGTERM/SIGINT, then drains. Returns the exit code.
    public static func run(address: SocketAddress, options: StandInOptions) -> Int32 {
        ProcessSignals.prepare()
        do {
            let loop = try Loop()
            let server = try start(loop: loop, address: address, options: options)
            var signals: [SignalWatcher] = []
            for s in [SIGTERM, SIGINT] {
                signals.append(
                    try SignalWatcher(loop: loop, signal: s) { _ in
                        for w in signals { w.close() }
                        server.onDrained = {}
                        server.beginDrain()
                        server.abortAll()
                    })
            }
            // Nothing to reload: SIGHUP is heard and ignored rather than ending the process.
            signals.append(try SignalWatcher(loop: loop, signal: SIGHUP) { _ in })
            ProcessSignals.deliver()
            loop.run()
            _ = loop.closeAll()
            return 0
        } catch {
            Log.write(.error, "listen_failed") {
                $0.field("addr", address.description); $0.field("error", error.description)
            }
            return 1
        }
    }
}
