import HTTP1
import Testing

struct ByteWriterTests {
    @Test func appendsGrowAndKeepEveryByte() {
        let w = ByteWriter(capacity: 1)
        var expected: [UInt8] = []
        for i in 0..<2_000 {
            switch i % 4 {
            case 0:
                w.appendByte(UInt8(truncatingIfNeeded: i))
                expected.append(UInt8(truncatingIfNeeded: i))
            case 1:
                let chunk = (0..<(i % 37)).map { UInt8(truncatingIfNeeded: $0 &+ i) }
                chunk.withUnsafeBytes { w.appendBytes($0) }
                expected += chunk
            case 2:
                w.append("literal")
                expected += Array("literal".utf8)
            default:
                w.appendUTF8("é\(i)")
                expected += Array("é\(i)".utf8)
            }
        }
        #expect(w.count == expected.count)
        #expect(w.array() == expected)
        #expect(w.withBytes { Array($0) } == expected)
    }

    /// A buffer grown by one large output gives the memory back when emptied with a limit, and
    /// works as before afterwards; under the limit it keeps what it has.
    @Test func emptyingWithALimitGivesBackLargeMemory() {
        let w = ByteWriter(capacity: 64)
        let big = [UInt8](repeating: 7, count: 100_000)
        big.withUnsafeBytes { w.appendBytes($0) }
        #expect(w.capacityBytes >= 100_000)
        w.removeAll(keepingAtMost: 4096)
        #expect(w.count == 0 && w.capacityBytes == 4096)
        w.append("after")
        #expect(w.array() == Array("after".utf8))
        w.removeAll(keepingAtMost: 1 << 20)
        #expect(w.count == 0 && w.capacityBytes == 4096)
    }

    /// `firstUse`: 16 bytes until the first write, then the whole working size in one step.
    @Test func firstUseBuffersAllocateOnTheFirstWrite() {
        let w = ByteWriter(firstUse: 2048)
        #expect(w.capacityBytes == 16)
        w.append("GET /v1/models HTTP/1.1\r\n")  // 25 bytes: past the 16
        #expect(w.capacityBytes == 2048)
        let big = [UInt8](repeating: 1, count: 5000)
        big.withUnsafeBytes { w.appendBytes($0) }
        #expect(w.count == 25 + 5000 && w.capacityBytes >= 5025)
        #expect(w.array().prefix(25) == Array("GET /v1/models HTTP/1.1\r\n".utf8)[...])
    }

    @Test func appendInPlaceKeepsOnlyWhatWasWritten() {
        let w = ByteWriter(capacity: 4)
        w.append("ab")
        w.appendInPlace(maxCount: 100) { space in
            #expect(space.count == 100)
            space[0] = UInt8(ascii: "c")
            space[1] = UInt8(ascii: "d")
            return 2
        }
        w.appendInPlace(maxCount: 10) { _ in 0 }
        #expect(w.array() == Array("abcd".utf8))
        w.removeLast(3)
        #expect(w.array() == Array("a".utf8))
        w.removeAll()
        #expect(w.count == 0 && w.array().isEmpty)
        w.append("x")
        #expect(w.array() == Array("x".utf8))
    }

    @Test func anArrayIsASinkToo() {
        var a: [UInt8] = Array("ab".utf8)
        a.appendInPlace(maxCount: 5) { space in
            space[0] = UInt8(ascii: "c")
            return 1
        }
        a.appendByte(UInt8(ascii: "d"))
        Array("ef".utf8).withUnsafeBytes { a.appendBytes($0) }
        #expect(a == Array("abcdef".utf8))
    }
}
