import HTTP1
import Testing

@testable import Proxy

/// SHA-256 against the FIPS 180-4 / NIST example vectors (each also checked with coreutils'
/// `sha256sum`), fed whole and in pieces, by the Swift rounds and by the CPU's SHA instructions.
struct DigestTests {
    func hex(_ input: [UInt8], pieces: Int = 1, hardware: Bool = false) -> String {
        var h = SHA256(hardware: hardware)
        let step = max(1, input.count / pieces)
        var i = 0
        while i < input.count {
            let end = min(input.count, i + step)
            input[i..<end].withUnsafeBytes { h.update($0) }
            i = end
        }
        var out: [UInt8] = []
        h.finalizeHex(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test(arguments: [false, true]) func nistVectors(hardware: Bool) {
        #expect(hex([], hardware: hardware) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            hex(Array("abc".utf8), hardware: hardware)
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let two = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        for pieces in [1, 3, 7, 56] {
            #expect(
                hex(two, pieces: pieces, hardware: hardware)
                    == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        }
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(
            hex(million, pieces: 13, hardware: hardware)
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// The SHA instructions give the Swift rounds' digest for random inputs of every length up to
    /// five blocks and in random pieces (on CPUs that have them; elsewhere both are the Swift rounds).
    @Test(.enabled(if: SHA256.hardwareAvailable)) func hardwareMatchesTheSwiftRounds() {
        var rng = SystemRandomNumberGenerator()
        for length in 0..<330 {
            let input = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let pieces = Int.random(in: 1...5, using: &rng)
            #expect(hex(input, pieces: pieces, hardware: true) == hex(input, pieces: pieces, hardware: false))
            let soft = input.withUnsafeBytes { SHA256.prefix64($0, hardware: false) }
            #expect(input.withUnsafeBytes { SHA256.prefix64($0, hardware: true) } == soft)
        }
    }

    /// Lengths around the 55/56/64-byte padding edges.
    @Test func paddingEdges() {
        #expect(
            hex([UInt8](repeating: 0x61, count: 55))
                == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318")
        #expect(
            hex([UInt8](repeating: 0x61, count: 56))
                == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a")
        #expect(
            hex([UInt8](repeating: 0x61, count: 64))
                == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb")
    }

    /// The one-pass hex digest records carry equals the buffered hasher's, at every length across
    /// the padding cases, into both kinds of buffer.
    @Test func oneShotHexMatchesTheHasher() {
        for length in 0..<200 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 17) }
            let expected = hex(bytes, pieces: 3)
            var array: [UInt8] = [0x78]
            bytes.withUnsafeBytes { Digest.sha256Hex($0, into: &array) }
            #expect(String(decoding: array, as: UTF8.self) == "x" + expected, "length \(length)")
            var writer = ByteWriter(capacity: 16)
            bytes.withUnsafeBytes { Digest.sha256Hex($0, into: &writer) }
            #expect(String(decoding: writer.array(), as: UTF8.self) == expected)
        }
    }

    /// The one-pass 64-bit prefix (targeting-key hashes) agrees with the full digest at every
    /// length across the one- and two-block padding cases, and with the published vectors.
    @Test func prefix64MatchesTheDigest() {
        #expect(SHA256.prefix64(UnsafeRawBufferPointer(start: nil, count: 0)) == 0xe3b0_c442_98fc_1c14)
        #expect(Array("abc".utf8).withUnsafeBytes { SHA256.prefix64($0) } == 0xba78_16bf_8f01_cfea)
        for length in 0..<200 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let full = bytes.withUnsafeBytes { SHA256.hash($0) }
            let expected = full.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            #expect(bytes.withUnsafeBytes { SHA256.prefix64($0) } == expected, "length \(length)")
        }
    }
}
