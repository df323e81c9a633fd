import Foundation
import Records
import Testing

/// The CLI's line reader: bounded chunks, lines across chunk edges, no partial last line.
struct RecordLinesTests {
    func file(_ bytes: [UInt8]) throws -> String {
        let path = NSTemporaryDirectory() + "modelflag-lines-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func read(_ path: String) throws -> [String] {
        var out: [String] = []
        try RecordLines.forEach(in: path) { out.append(String(decoding: $0, as: UTF8.self)) }
        return out
    }

    /// Lines of every length around the 1 MiB chunk, one longer than two chunks, and blank lines.
    @Test func everyLineComesBackWhole() throws {
        let mib = 1 << 20
        var want: [String] = []
        for n in [1, 100, mib - 1, mib, mib + 1, 10, 2 * mib + 17, 3, mib - 2] {
            want.append(String(repeating: "x", count: n - 1) + "\(want.count % 10)")
        }
        let text = want.joined(separator: "\n\n") + "\n"
        let path = try file(Array(text.utf8))
        defer { unlink(path) }
        let got = try read(path)
        #expect(got.count == want.count)
        #expect(got.map(\.count) == want.map(\.count))
        #expect(got == want)
    }

    /// A line still being written (no newline yet) is not a record.
    @Test func anUnfinishedLastLineIsLeftOut() throws {
        let path = try file(Array("{\"a\":1}\n{\"b\":2}\n{\"c\":".utf8))
        defer { unlink(path) }
        #expect(try read(path) == ["{\"a\":1}", "{\"b\":2}"])
    }

    @Test func aMissingFileIsAnErrorNotNothing() {
        #expect(throws: RecordLines.ReadError.self) { try read("/nonexistent/modelflag/records.jsonl") }
    }
}
