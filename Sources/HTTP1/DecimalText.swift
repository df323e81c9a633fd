/// An integer's decimal digits appended to a byte buffer, without building a `String`: head
/// fields (Content-Length, status), record fields and the records' sequence numbers.
public enum DecimalText {
    @inlinable
    public static func append<B: ByteSink>(_ value: Int, to buf: inout B) {
        if value < 0 { buf.appendByte(UInt8(ascii: "-")) }
        var v = value.magnitude
        var divisor: UInt = 1
        while v / divisor >= 10 { divisor *= 10 }
        while divisor > 0 {
            buf.appendByte(UInt8(truncatingIfNeeded: v / divisor) + 0x30)
            v %= divisor
            divisor /= 10
        }
    }
}
