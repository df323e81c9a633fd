/// An integer's decimal digits appended to a byte buffer, without building a `String`: head
/// fields (Content-Length, status), record fields and the records' sequence numbers.
public enum DecimalText {
    /// Digits are written backwards into 24 bytes on the stack (a division by the constant 10 is a
    /// multiply) and appended with one copy: a record has a dozen numbers, and the division by a
    /// variable power of ten per digit with an append per byte cost about 0.1 µs a record.
    @inlinable
    public static func append<B: ByteSink>(_ value: Int, to buf: inout B) {
        var space: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &space) { p in
            var i = p.count
            var v = value.magnitude
            repeat {
                i -= 1
                p[i] = UInt8(truncatingIfNeeded: v % 10) &+ 0x30
                v /= 10
            } while v > 0
            if value < 0 {
                i -= 1
                p[i] = UInt8(ascii: "-")
            }
            buf.appendBytes(UnsafeRawBufferPointer(rebasing: p[i...]))
        }
    }
}
