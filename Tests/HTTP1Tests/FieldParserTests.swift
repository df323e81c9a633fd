import HTTP1
import Testing

/// The field parser scans values eight bytes at a time; this holds it to the rules it replaced,
/// written byte by byte here (RFC 9112 §5: token names, no whitespace before the colon or the
/// first field, no control byte but HTAB in a value, trailing whitespace not part of the value).
struct FieldParserTests {
    enum Expected: Equatable {
        case fields([[UInt8]])  // "name=value" of each field after Host
        case badName, badValue, obsFold
    }

    func reference(_ lines: [[UInt8]]) -> Expected {
        var out: [[UInt8]] = []
        for line in lines {
            if line.first == UInt8(ascii: " ") || line.first == UInt8(ascii: "\t") { return .obsFold }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { return .badName }
            let tchar = Set(Array("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8))
            guard line[..<colon].allSatisfy({ tchar.contains($0) }) else { return .badName }
            var v = Array(line[(colon + 1)...])
            guard v.allSatisfy({ $0 >= 0x20 ? $0 != 0x7F : $0 == 0x09 }) else { return .badValue }
            while let f = v.first, f == 0x20 || f == 0x09 { v.removeFirst() }
            while let l = v.last, l == 0x20 || l == 0x09 { v.removeLast() }
            out.append(Array(line[..<colon]) + [UInt8(ascii: "=")] + v)
        }
        return .fields(out)
    }

    @Test func agreesWithTheByteByByteRulesOnRandomFields() {
        var rng = SystemRandomNumberGenerator()
        // Bytes that matter to the rules: name characters, separators, whitespace, DEL, NUL, a bare
        // LF, other control bytes, obs-text; values long enough to cross eight-byte words.
        let alphabet: [UInt8] = Array("ab_-:  \t".utf8) + [0x7F, 0x00, 0x0A, 0x01, 0x1F, 0x80, 0xFF, 0x7E, 0x21]
        var checked = 0
        for _ in 0..<20_000 {
            let lines: [[UInt8]] = (0..<Int.random(in: 1...3, using: &rng)).map { _ in
                let name =
                    Array("x-".utf8)
                    + (0..<Int.random(in: 0...3, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
                let value = (0..<Int.random(in: 0...40, using: &rng)).map { _ in
                    Int.random(in: 0..<4, using: &rng) == 0 ? alphabet.randomElement(using: &rng)! : UInt8(ascii: "v")
                }
                return name + Array(":".utf8) + value
            }
            var head = Array("GET / HTTP/1.1\r\nHost: x\r\n".utf8)
            for line in lines { head += line + [0x0D, 0x0A] }
            head += [0x0D, 0x0A]
            let got = head.withUnsafeBytes { p in
                Result { () throws(HTTPError) in try RequestHead.parse(p, limits: Limits()) }
            }
            let expected = reference(lines)
            switch got {
            case .success(let h):
                let fields = h.fields.dropFirst().map { f in
                    Array(h.bytes[f.name]) + [UInt8(ascii: "=")] + Array(h.bytes[f.value])
                }
                #expect(expected == .fields(fields), "\(head)")
            case .failure(.badHeaderName): #expect(expected == .badName, "\(head)")
            case .failure(.badHeaderValue): #expect(expected == .badValue, "\(head)")
            case .failure(.obsFold): #expect(expected == .obsFold, "\(head)")
            case .failure(let other):
                Issue.record("unexpected \(other) for \(head)")
            }
            checked += 1
        }
        #expect(checked == 20_000)
    }
}
