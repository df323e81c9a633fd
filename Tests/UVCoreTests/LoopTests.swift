import Testing
import UVCore

/// libuv-style loop tests: count callbacks, run the loop, assert the counts, then assert the loop
/// closes cleanly (every handle released).
@Suite struct LoopTests {
    @Test func timerFiresOnceAndLoopClosesCleanly() throws {
        let loop = try Loop()
        var fired = 0
        let timer = try Timer(loop: loop) { fired += 1 }
        timer.start(ms: 1)
        loop.run()
        #expect(fired == 1)
        timer.close()
        timer.close()  // idempotent
        #expect(loop.closeAll() == 0)
    }

    /// A check runs after the iteration's I/O callbacks: what a timer callback queues is seen by
    /// the check of the same iteration, before any later timer fires.
    @Test func checkRunsAfterTheIterationsCallbacks() throws {
        let loop = try Loop()
        var order: [String] = []
        var check: Check?
        check = try Check(loop: loop) {
            order.append("check")
            check?.stop()
        }
        let first = try Timer(loop: loop) {
            order.append("timer")
            check?.start()
        }
        let later = try Timer(loop: loop) { order.append("later") }
        first.start(ms: 1)
        later.start(ms: 30)
        loop.run()
        #expect(order == ["timer", "check", "later"])
        check?.close()
        first.close()
        later.close()
        #expect(loop.closeAll() == 0)
    }

    @Test func asyncWakeFromAnotherThread() throws {
        let loop = try Loop()
        var woken = 0
        var wake: AsyncWake?
        wake = try AsyncWake(loop: loop) {
            woken += 1
            wake?.close()
        }
        let waker = wake!.waker
        let t = LoopThread.spawn { waker.wake() }
        loop.run()
        t.join()
        #expect(woken == 1)
        #expect(loop.closeAll() == 0)
    }

    final class Echo: TCPListenerDelegate, TCPStreamDelegate {
        var accepted: [TCPStream] = []
        var serverReads = 0
        var clientBytes: [UInt8] = []
        var connected = 0
        var ended = 0
        var client: TCPStream?

        func listenerAccepted(_ listener: TCPListener, _ stream: TCPStream) {
            accepted.append(stream)
            stream.delegate = self
            stream.startReading()
        }

        func streamConnected(_ stream: TCPStream, _ error: UVError?) {
            #expect(error == nil)
            connected += 1
            stream.startReading()
            stream.write(Array("ping".utf8))
        }

        func streamRead(_ stream: TCPStream, _ bytes: UnsafeRawBufferPointer) {
            if stream === client {
                clientBytes.append(contentsOf: bytes)
                if clientBytes.count == 4 { stream.close() }
            } else {
                serverReads += 1
                stream.write(bytes)  // echo
            }
        }

        func streamReadEnded(_ stream: TCPStream, _ error: UVError) {
            ended += 1
            stream.close()
        }
    }

    @Test func tcpEchoCountsCallbacksAndReleasesEverything() throws {
        let loop = try Loop()
        let echo = Echo()
        let listener = try TCPListener(loop: loop, address: SocketAddress("127.0.0.1:0"), reusePort: false)
        listener.delegate = echo
        #expect(listener.address.port != 0)
        let client = try TCPStream(loop: loop)
        echo.client = client
        client.delegate = echo
        #expect(client.connect(to: listener.address) == nil)
        // Run until the server side saw EOF from the client's close.
        while echo.ended == 0 { loop.runOnce() }
        #expect(echo.connected == 1)
        #expect(echo.serverReads >= 1)
        #expect(echo.clientBytes == Array("ping".utf8))
        listener.close()
        #expect(loop.closeAll() == 0)
    }

    @Test func connectRefusedIsAnErrorValue() throws {
        let loop = try Loop()
        final class D: TCPStreamDelegate {
            var error: UVError?
            func streamRead(_ stream: TCPStream, _ bytes: UnsafeRawBufferPointer) {}
            func streamReadEnded(_ stream: TCPStream, _ error: UVError) {}
            func streamConnected(_ stream: TCPStream, _ error: UVError?) {
                self.error = error
                stream.close()
            }
        }
        // Bind then close a listener to get a port with nobody behind it.
        let l = try TCPListener(loop: loop, address: SocketAddress("127.0.0.1:0"), reusePort: false)
        let address = l.address
        l.close()
        loop.runOnce(wait: false)
        let d = D()
        let s = try TCPStream(loop: loop)
        s.delegate = d
        #expect(s.connect(to: address) == nil)
        loop.run()
        #expect(d.error == .connectionRefused)
        #expect(loop.closeAll() == 0)
    }

    @Test func addressParsing() throws {
        #expect(try SocketAddress("127.0.0.1:8080").port == 8080)
        #expect(try SocketAddress("[::1]:9000").description == "[::1]:9000")
        #expect(try SocketAddress("localhost:1").host == "127.0.0.1")
        #expect(throws: SocketAddress.ParseError.self) { try SocketAddress("nope") }
        #expect(throws: SocketAddress.ParseError.self) { try SocketAddress("1.2.3.4:99999") }
    }
}
