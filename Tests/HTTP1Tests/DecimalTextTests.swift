import HTTP1
import Testing

struct DecimalTextTests {
    /// The same digits as `String(_:)`, at the edges and across powers of ten.
    @Test func matchesStringFormatting() {
        var values = [0, 1, -1, 9, 10, 99, 100, -100, Int.max, Int.min, 1_000_000_007]
        var p = 1
        for _ in 0..<18 {
            values += [p - 1, p, p + 1, -p]
            p *= 10
        }
        for v in values {
            var buf: [UInt8] = [0x78]  // appends after what is there
            DecimalText.append(v, to: &buf)
            #expect(String(decoding: buf, as: UTF8.self) == "x" + String(v))
            let writer = ByteWriter(capacity: 16)  // grows past its first 16 bytes
            writer.append("xxxxxxxxxx")
            var sink = writer
            DecimalText.append(v, to: &sink)
            #expect(String(decoding: writer.array(), as: UTF8.self) == "xxxxxxxxxx" + String(v))
            var head = HeadWriter()
            head.append("x")
            head.appendDecimal(v)
            #expect(String(decoding: head.bytes, as: UTF8.self) == "x" + String(v))
        }
    }
}
