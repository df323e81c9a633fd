import Foundation
import Records
import Synchronization
import Testing

/// Reliability cases E42–E48 at the writer level, with real files.
@Suite struct RecordWriterTests {
    func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "modelflag-records-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func lines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(
            String.init)
    }

    func record(_ i: Int) -> [UInt8] { Array(#"{"request_id":"r\#(i)","role":"served"}"#.utf8) }

    @Test func everyRecordIsOneParsableLineWithASequence() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = try RecordWriter(config: RecordConfig(directory: dir))
        for i in 0..<1000 { #expect(w.submit(record(i))) }
        w.close()
        let all = try lines(dir + "/records.jsonl")
        #expect(all.last == "")  // ends with a newline
        let records = all.dropLast()
        #expect(records.count == 1001)  // header + 1000
        #expect(records.first!.contains("\"type\":\"file_header\""))
        for (i, line) in records.enumerated() {
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            #expect(obj["seq"] as? Int == i)
        }
        #expect(w.stats.written == 1000)
    }

    /// Pages of the first `bytes` bytes of `path` in the page cache, and pages in all (mincore).
    func residency(_ path: String, bytes: Int) throws -> (resident: Int, pages: Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CocoaError(.fileNoSuchFile) }
        defer { close(fd) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let map = mmap(nil, bytes, PROT_READ, MAP_SHARED, fd, 0), map != MAP_FAILED else {
            throw CocoaError(.fileReadUnknown)
        }
        defer { munmap(map, bytes) }
        var vec = [UInt8](repeating: 0, count: (bytes + page - 1) / page)
        guard mincore(map, bytes, &vec) == 0 else { throw CocoaError(.fileReadUnknown) }
        return (vec.filter { $0 & 1 != 0 }.count, vec.count)
    }

    /// Records fsynced longer ago than `dropCachedAfterMs` leave the page cache (which counts
    /// against a pod's memory); with 0 they stay (the kernel's choice). Read without faulting
    /// pages in, with mincore.
    @Test(arguments: [200 as UInt64, 0])
    func syncedRecordsLeaveThePageCache(dropAfterMs: UInt64) throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = RecordConfig(directory: dir)
        config.fsync = .interval(50)
        config.dropCachedAfterMs = dropAfterMs
        let w = try RecordWriter(config: config)
        let big = Array(#"{"request_id":"old","text":"\#(String(repeating: "x", count: 1000))"}"#.utf8)
        for _ in 0..<4000 { #expect(w.submit(big)) }  // about 4 MB, written and fsynced at once
        usleep(500_000)  // older than 200 ms now
        for i in 0..<10 { #expect(w.submit(record(i))) }
        usleep(300_000)  // the fsync after these drops what the earlier ones synced
        let (resident, pages) = try residency(dir + "/records.jsonl", bytes: 3_500_000)
        if dropAfterMs > 0 {
            #expect(resident * 10 < pages, "\(resident) of \(pages) pages still cached")
        } else {
            #expect(resident * 10 > pages * 9, "only \(resident) of \(pages) pages cached")
        }
        w.close()
        #expect(w.stats.written == 4010)
    }

    @Test func rotationByRenameLosesAndDuplicatesNothing() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = RecordConfig(directory: dir)
        config.maxFileBytes = 4096
        let w = try RecordWriter(config: config)
        for i in 0..<2000 { w.submit(record(i)) }
        w.close()
        #expect(w.stats.rotations > 5)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".jsonl") }
        #expect(files.contains("records.jsonl"))
        #expect(files.filter { $0.hasPrefix("records-") }.count == w.stats.rotations)
        var ids = Set<String>()
        var headers = Set<String>()
        for f in files {
            let records = try lines(dir + "/" + f).dropLast()
            headers.insert(records.first!)
            var expectSeq = 0
            for line in records {
                let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                #expect(obj["seq"] as? Int == expectSeq)
                expectSeq += 1
                if let id = obj["request_id"] as? String { #expect(ids.insert(id).inserted, "duplicate \(id)") }
            }
        }
        #expect(ids.count == 2000)
        #expect(headers.count == files.count)  // every first line is unique
    }

    @Test func tornLastLineIsRepairedAndNumberingContinues() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w1 = try RecordWriter(config: RecordConfig(directory: dir))
        for i in 0..<10 { w1.submit(record(i)) }
        w1.close()
        // A crash mid-write leaves a fragment without its newline.
        let handle = FileHandle(forWritingAtPath: dir + "/records.jsonl")!
        handle.seekToEndOfFile()
        handle.write(Data(#"{"seq":11,"request_id":"cut"#.utf8))
        handle.closeFile()
        let w2 = try RecordWriter(config: RecordConfig(directory: dir))
        #expect(w2.stats.tornBytes > 0)
        w2.submit(record(99))
        w2.close()
        let records = try lines(dir + "/records.jsonl").dropLast()
        for line in records { _ = try JSONSerialization.jsonObject(with: Data(line.utf8)) }
        #expect(records.last!.hasPrefix("{\"seq\":11,"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).contains { $0.contains(".torn-") })
    }

    @Test func writeErrorsDropRecordsWithoutPartialLinesAndWritingResumes() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let failing = Atomic<Bool>(false)
        let w = try RecordWriter(config: RecordConfig(directory: dir)) {
            failing.load(ordering: .relaxed) ? ENOSPC : nil
        }
        for i in 0..<5 { w.submit(record(i)) }
        usleep(100_000)
        failing.store(true, ordering: .relaxed)
        for i in 5..<10 { w.submit(record(i)) }
        usleep(100_000)
        failing.store(false, ordering: .relaxed)
        for i in 10..<15 { w.submit(record(i)) }
        w.close()
        #expect(w.stats.droppedIO == 5)
        #expect(w.stats.written == 10)
        let records = try lines(dir + "/records.jsonl").dropLast()
        #expect(records.count == 11)
        for line in records { _ = try JSONSerialization.jsonObject(with: Data(line.utf8)) }
    }

    @Test func aFullQueueDropsAndCountsInsteadOfBlocking() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = RecordConfig(directory: dir)
        config.queueCapacity = 10
        let w = try RecordWriter(config: config)
        var accepted = 0
        for i in 0..<10_000 where w.submit(record(i)) { accepted += 1 }
        w.close()
        #expect(w.stats.droppedQueueFull == 10_000 - accepted)
        #expect(w.stats.written == accepted)
        #expect(accepted < 10_000)
    }
}

extension RecordWriterTests {
    /// The queue is bounded in bytes too: a stalled disk costs `queueBytes` of memory at most,
    /// whatever the number of records.
    @Test func aQueueFullOfBytesDropsAndCountsInsteadOfBlocking() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = RecordConfig(directory: dir)
        config.queueBytes = 4096
        let w = try RecordWriter(config: config)
        let big = Array(#"{"pad":""#.utf8) + Array(repeating: UInt8(ascii: "x"), count: 1500) + Array(#""}"#.utf8)
        var accepted = 0
        for _ in 0..<10_000 where w.submit(big) { accepted += 1 }
        #expect(!w.submit(Array(repeating: UInt8(ascii: "{"), count: 4097)))  // larger than the whole queue
        w.close()
        #expect(w.stats.droppedQueueFull == 10_001 - accepted)
        #expect(w.stats.written == accepted)
        #expect(accepted < 10_000)
        let lines = try lines(dir + "/records.jsonl").dropFirst().dropLast()  // the file header, the last newline
        #expect(lines.count == accepted)
        for line in lines { #expect(line.hasSuffix(#"x"}"#) && line.hasPrefix(#"{"seq":"#)) }
    }
}

@Suite struct RetentionTests {
    /// Writes 500 small records through 2 KiB files with the given retention; returns the rotated
    /// files left and the number of rotations.
    func rotate(retainFiles: Int, grace: Int) throws -> (left: Int, rotations: Int) {
        let dir = NSTemporaryDirectory() + "modelflag-ret-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = RecordConfig(directory: dir)
        config.maxFileBytes = 2048
        config.retainFiles = retainFiles
        config.retentionGraceSeconds = grace
        let w = try RecordWriter(config: config)
        for i in 0..<500 { w.submit(Array(#"{"request_id":"r\#(i)"}"#.utf8)) }
        w.close()
        let rotated = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("records-") }
        return (rotated.count, w.stats.rotations)
    }

    @Test func oldestRotatedFilesGoYoungOnesStay() throws {
        let old = try rotate(retainFiles: 3, grace: 0)
        #expect(old.rotations > 3)
        #expect(old.left == 3)
        // With a grace period, files that young are never deleted.
        let young = try rotate(retainFiles: 1, grace: 60)
        #expect(young.left == young.rotations)
    }
}
