import Crypto

/// SHA-256 as lowercase hex, for captured bodies, redacted fields and targeting-key hashes.
enum Digest {
    static func sha256Hex(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        let digest = SHA256.hash(data: bytes)
        let hex = Array("0123456789abcdef".utf8)
        digest.withUnsafeBytes { d in
            for b in d {
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 15)])
            }
        }
    }
}
