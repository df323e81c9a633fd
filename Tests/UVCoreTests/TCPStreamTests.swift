import Testing
import UVCore

@Suite struct TCPStreamTests {
    final class Pair: TCPListenerDelegate, TCPStreamDelegate {
        var server: TCPStream?
        var client: TCPStream?
        var connected = false
        var reads = 0
        var bytes: [UInt8] = []
        var ended: [UVError] = []

        func listenerAccepted(_ listener: TCPListener, _ stream: TCPStream) { server = stream }
        func streamConnected(_ stream: TCPStream, _ error: UVError?) {
            #expect(error == nil)
            connected = true
            stream.startReading()
        }
        func streamRead(_ stream: TCPStream, _ bytes: UnsafeRawBufferPointer) {
            reads += 1
            self.bytes.append(contentsOf: bytes)
        }
        func streamReadEnded(_ stream: TCPStream, _ error: UVError) { ended.append(error) }
    }

    /// A client connected to a listener, both ends reporting to `pair`.
    func connected(_ loop: Loop, _ pair: Pair) throws -> (TCPListener, TCPStream) {
        let listener = try TCPListener(loop: loop, address: SocketAddress("127.0.0.1:0"), reusePort: false)
        listener.delegate = pair
        let client = try TCPStream(loop: loop)
        pair.client = client
        client.delegate = pair
        #expect(client.connect(to: listener.address) == nil)
        while !pair.connected || pair.server == nil { loop.runOnce() }
        return (listener, client)
    }

    /// With a receive low-water mark, bytes below it never wake the loop: `readAvailable` reads
    /// them. A write past the mark, and the peer's close below it, still wake the loop.
    @Test func lowWaterMarkHoldsSmallReadsUntilDrained() throws {
        let loop = try Loop()
        let pair = Pair()
        let (listener, client) = try connected(loop, pair)
        #expect(client.setReceiveLowWater(4096))

        // On loopback the bytes are in the client's receive queue when the write returns.
        pair.server!.write(Array("0123456789".utf8))
        for _ in 0..<20 { _ = loop.runOnce(wait: false) }
        #expect(pair.reads == 0, "bytes below the mark woke the loop")
        client.readAvailable()
        #expect(pair.bytes == Array("0123456789".utf8))
        #expect(pair.ended.isEmpty)
        client.readAvailable()  // nothing more: no call, no error
        #expect(pair.bytes.count == 10 && pair.ended.isEmpty)

        // Past the mark: the loop is woken by itself.
        let big = [UInt8](repeating: 0x61, count: 5000)
        pair.server!.write(big)
        while pair.bytes.count < 5010 { loop.runOnce() }
        #expect(pair.bytes.count == 5010)

        // Three bytes and a close: the close wakes the loop although the bytes are below the mark.
        pair.server!.write(Array("end".utf8))
        _ = pair.server!.shutdown()
        while pair.ended.isEmpty { loop.runOnce() }
        #expect(pair.ended == [.eof])
        #expect(Array(pair.bytes.suffix(3)) == Array("end".utf8))
        #expect(pair.bytes.count == 5013)

        client.close()
        pair.server!.close()
        listener.close()
        #expect(loop.closeAll() == 0)
    }

    /// `readAvailable` reports the peer's close like a read does, once, and stops reading.
    @Test func readAvailableReportsTheCloseOnce() throws {
        let loop = try Loop()
        let pair = Pair()
        let (listener, client) = try connected(loop, pair)
        pair.server!.write(Array("bye".utf8))
        pair.server!.close()
        // The FIN follows the bytes through loopback; read both without running the loop.
        while pair.ended.isEmpty {
            client.readAvailable()
            if pair.ended.isEmpty { _ = loop.runOnce(wait: false) }
        }
        #expect(pair.bytes == Array("bye".utf8))
        #expect(pair.ended == [.eof])
        #expect(!client.isReading)
        client.readAvailable()  // not reading: nothing happens
        #expect(pair.ended.count == 1)
        client.close()
        listener.close()
        #expect(loop.closeAll() == 0)
    }
}
