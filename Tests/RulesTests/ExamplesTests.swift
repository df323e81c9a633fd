import Foundation
import Rules
import Testing

/// Every example rules file in the repository loads (so the docs never show a broken file).
@Suite struct ExamplesTests {
    static var examplesDir: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("examples/rules")
    }

    @Test func everyExampleLoads() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.examplesDir.path).filter {
            $0.hasSuffix(".json")
        }
        #expect(files.count >= 4)
        for f in files {
            let data = try Data(contentsOf: Self.examplesDir.appendingPathComponent(f))
            do {
                let set = try RulesLoader.load(Array(data))
                #expect(!set.flags.isEmpty, "\(f)")
            } catch {
                Issue.record("\(f): \(error)")
            }
        }
    }
}
