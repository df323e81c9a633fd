/// Generates request ids: 16 random hex digits per loop, then a per-loop counter in hex.
/// Unique across processes and restarts with overwhelming probability, and cheap (no syscall
/// per request). Loop-confined: one generator per loop.
public struct RequestIdGenerator {
    private var prefix: [UInt8]
    private var counter: UInt64 = 0

    public init() {
        let seed = UInt64.random(in: 1...UInt64.max)
        prefix = []
        let hex = Array("0123456789abcdef".utf8)
        for i in 0..<16 { prefix.append(hex[Int((seed >> (UInt64(i) * 4)) & 0xF)]) }
    }

    /// Writes the next id (32 bytes) into `out`, replacing its contents.
    public mutating func next(into out: inout [UInt8]) {
        counter &+= 1
        out.removeAll(keepingCapacity: true)
        out.append(contentsOf: prefix)
        let hex: StaticString = "0123456789abcdef"
        let c = counter
        for shift in stride(from: 60, through: 0, by: -4) {
            out.append(hex.utf8Start[Int((c >> UInt64(shift)) & 0xF)])
        }
    }
}
