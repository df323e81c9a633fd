import ArgumentParser
import Glibc
import HTTP1
import HTTPServer
import Proxy
import Records
import Rules

/// `modelflag records …`: read the output records a sidecar wrote (cold path; files are parsed
/// with the rules file's JSON parser, one line at a time).
struct RecordsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "records",
        abstract: "Query, follow and summarize output records (active and rotated files).",
        subcommands: [
            RecordsQuery.self, RecordsTail.self, RecordsStats.self, RecordsQuarantine.self, RecordsExport.self,
        ])
}

/// Filters shared by the records commands.
struct RecordFilters: ParsableArguments {
    @Option(help: "Records directory (the sidecar's --records-dir).")
    var dir: String

    @Option(help: "Only this flag.") var flag: String?
    @Option(help: "Only this variant.") var variant: String?
    @Option(help: "Only this model version.") var modelVersion: String?
    @Option(help: "Only this role (served, shadow).") var role: String?
    @Option(help: "Only this outcome (ok, upstream_error, timeout, incomplete, client_cancelled, dropped).")
    var outcome: String?
    @Option(help: "Only records whose request matched this segment (an $evaluators name).") var segment: String?
    @Option(help: "Only this request id.") var requestId: String?
    @Option(
        help:
            "Records at or after this time (RFC 3339 UTC, e.g. 2026-11-25T18:00:00Z; a prefix such as 2026-11-25T18 works)."
    )
    var since: String?
    @Option(help: "Records before this time (RFC 3339 UTC or a prefix).") var until: String?

    func matches(_ r: JSONNode) -> Bool {
        if r["type"]?.string == "file_header" { return false }
        func eq(_ key: String, _ want: String?) -> Bool { want == nil || r[key]?.string == want }
        guard eq("flag", flag), eq("variant", variant), eq("model_version", modelVersion), eq("role", role),
            eq("outcome", outcome), eq("request_id", requestId)
        else { return false }
        if let segment, !(r["segments"]?.array ?? []).contains(where: { $0.string == segment }) { return false }
        let ts = r["ts"]?.string ?? ""
        if let since, ts < since { return false }
        if let until, ts >= until { return false }
        return true
    }

    /// Record files, oldest first: rotated ones by modification time, then the active file.
    func files() -> [String] { recordFiles(in: dir) }

    /// Calls `body` with each matching record and its raw line, file by file in a bounded buffer.
    /// A file that cannot be read stops the command (a partial export must not look whole); a
    /// line that is not JSON is skipped and counted on stderr.
    ///
    /// With exact-value filters (`--request-id` to trace one output back, `--model-version` to
    /// export or review a deployment, `--flag`, `--variant`, `--role`, `--outcome`), a line is
    /// parsed only if it holds each `"key":"value"` as the sidecar writes it: a search instead of
    /// a parse per line. (So a damaged line without those bytes is not reported then.)
    func forEach(_ body: (JSONNode, UnsafeRawBufferPointer) -> Void) throws {
        try forEachRecord(in: files(), holding: needles) { node, line in
            if matches(node) { body(node, line) }
        }
    }

    /// `"key":"value"` for each exact-value filter whose value is written unescaped (printable
    /// ASCII without quote or backslash: request ids the sidecar accepts always are); a filter
    /// with any other value gets none, and its lines are parsed and compared as usual.
    var needles: [[UInt8]] {
        let exact = [
            ("request_id", requestId), ("model_version", modelVersion), ("flag", flag), ("variant", variant),
            ("role", role), ("outcome", outcome),
        ]
        return exact.compactMap { key, value in
            guard let value, value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }) else {
                return nil
            }
            return Array("\"\(key)\":\"\(value)\"".utf8)
        }
    }
}

/// Every record of `paths`, in order, parsed; unreadable files are an error, lines that do not
/// parse are counted and reported on stderr. A line without every byte string of `needles` is
/// passed over unparsed (it cannot match the filters they stand for).
func forEachRecord(
    in paths: [String], holding needles: [[UInt8]] = [], _ body: (JSONNode, UnsafeRawBufferPointer) -> Void
) throws {
    try forEachRecordLine(in: paths) { line in
        for needle in needles where needle.withUnsafeBytes({ ByteSearch.find($0, in: line) }) == nil { return true }
        guard let node = try? JSONParser.parse(Array(line)) else { return false }
        body(node, line)
        return true
    }
}

/// Every line of `paths`, in order, to `read`, which says whether it was a record; unreadable
/// files are an error, lines that were not are counted and reported on stderr per file.
func forEachRecordLine(in paths: [String], _ read: (UnsafeRawBufferPointer) -> Bool) throws {
    for path in paths {
        var bad = 0
        do {
            try RecordLines.forEach(in: path) { line in
                if !read(line) { bad += 1 }
            }
        } catch {
            throw ValidationError("\(error)")
        }
        if bad > 0 {
            fflush(nil)
            printError("warning: \(path): \(bad) line(s) are not JSON records and were skipped\n")
        }
    }
}

/// One line on stdout, from raw bytes.
func writeLine(_ line: UnsafeRawBufferPointer) {
    print(String(decoding: line, as: UTF8.self))
}

struct RecordsQuery: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query", abstract: "Print the records that match, as JSON lines or a table.")
    @OptionGroup var filters: RecordFilters
    @ArgumentParser.Flag(help: "A table instead of JSON lines.") var table = false

    func run() throws {
        if table {
            print(
                "ts                        request_id                        role    flag            variant       model_version          status outcome           latency_ms"
            )
        }
        try filters.forEach { r, line in
            if table {
                func col(_ key: String, _ width: Int) -> String {
                    var v = r[key]?.string ?? (r[key]?.number.map { String($0) } ?? "-")
                    if v.count > width { v = String(v.prefix(width)) }
                    return v + String(repeating: " ", count: max(1, width + 1 - v.count))
                }
                print(
                    col("ts", 25) + col("request_id", 33) + col("role", 7) + col("flag", 15) + col("variant", 13)
                        + col("model_version", 22) + col("status", 6) + col("outcome", 17) + col("latency_ms", 10))
            } else {
                writeLine(line)
            }
        }
    }
}

struct RecordsTail: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print the last records; with -f, keep following the active file across rotations.")
    @OptionGroup var filters: RecordFilters
    @Option(name: .short, help: "How many records to print first.") var n = 10
    @ArgumentParser.Flag(name: .short, help: "Follow new records.") var follow = false

    func run() throws {
        var last: [[UInt8]] = []
        var next = 0
        try filters.forEach { _, line in
            guard n > 0 else { return }
            if last.count < n {
                last.append(Array(line))
            } else {
                last[next] = Array(line)  // a ring of the last n lines
            }
            next = (next + 1) % n
        }
        let oldest = last.count < n ? 0 : next
        for i in 0..<last.count { last[(oldest + i) % last.count].withUnsafeBytes { writeLine($0) } }
        fflush(nil)
        guard follow else { return }
        let path = filters.dir + "/records.jsonl"
        var st = stat()
        var inode = stat(path, &st) == 0 ? st.st_ino : 0
        var offset = stat(path, &st) == 0 ? Int(st.st_size) : 0
        var pending: [UInt8] = []
        while true {
            usleep(200_000)
            guard stat(path, &st) == 0 else { continue }
            if st.st_ino != inode {  // rotated: read the new file from its start
                inode = st.st_ino
                offset = 0
                pending = []
            }
            guard Int(st.st_size) > offset else { continue }
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            var buf = [UInt8](repeating: 0, count: Int(st.st_size) - offset)
            let got = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
            close(fd)
            guard got > 0 else { continue }
            offset += got
            pending.append(contentsOf: buf[0..<got])
            while let nl = pending.firstIndex(of: 0x0A) {
                let line = String(decoding: pending[0..<nl], as: UTF8.self)
                pending.removeSubrange(0...nl)
                if let node = try? JSONParser.parse(line), filters.matches(node) { print(line) }
            }
            fflush(nil)  // all output streams
        }
    }
}

struct RecordsStats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract:
            "Counts, errors and latency percentiles by flag × variant × role × segment (a record counts in each segment it matched; '-' = none)."
    )
    @OptionGroup var filters: RecordFilters

    func run() throws {
        // Latencies go into a sketch per group (DDSketch buckets, 3 % relative accuracy): memory
        // stays bounded by the number of groups however many records are read.
        var groups: [String: (count: Int, errors: Int, latencies: LatencySketch)] = [:]
        try filters.forEach { r, _ in
            let segments = (r["segments"]?.array ?? []).compactMap(\.string)
            for segment in segments.isEmpty ? ["-"] : segments {
                let key =
                    "\(r["flag"]?.string ?? "-")\t\(r["variant"]?.string ?? "-")\t\(r["role"]?.string ?? "-")\t\(segment)\t\(r["model_version"]?.string ?? "-")"
                var g = groups[key] ?? (0, 0, LatencySketch())
                g.count += 1
                if r["outcome"]?.string != "ok" { g.errors += 1 }
                if let l = r["latency_ms"]?.number { g.latencies.add(l) }
                groups[key] = g
            }
        }
        print("flag\tvariant\trole\tsegment\tmodel_version\trequests\tnot_ok\tp50_ms\tp90_ms\tp99_ms\tmax_ms")
        for key in groups.keys.sorted() {
            let g = groups[key]!
            func q(_ p: Double) -> String {
                guard let v = g.latencies.quantile(p) else { return "-" }
                return String(Double(Int(v * 1000)) / 1000)
            }
            print("\(key)\t\(g.count)\t\(g.errors)\t\(q(0.5))\t\(q(0.9))\t\(q(0.99))\t\(q(1))")
        }
    }
}

/// One quarantine entry: records of `modelVersion` written in [from, to) are unfit for training.
struct QuarantineEntry {
    var modelVersion: String
    var from: String
    var to: String

    /// All entries of `DIR/quarantine.jsonl` (an append-only history); none when it does not exist.
    static func load(_ dir: String) throws -> [QuarantineEntry] {
        let path = dir + "/quarantine.jsonl"
        guard access(path, F_OK) == 0 else { return [] }
        var entries: [QuarantineEntry] = []
        try forEachRecord(in: [path]) { n, _ in
            guard let v = n["model_version"]?.string, let f = n["from"]?.string, let t = n["to"]?.string else {
                return
            }
            entries.append(QuarantineEntry(modelVersion: v, from: f, to: t))
        }
        return entries
    }

    func covers(_ r: JSONNode) -> Bool {
        guard r["model_version"]?.string == modelVersion, let ts = r["ts"]?.string else { return false }
        return ts >= from && ts < to
    }
}

struct RecordsQuarantine: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quarantine",
        abstract:
            "Mark a deployment window of a model version as unfit for training (appends to DIR/quarantine.jsonl).",
        discussion:
            "The file is append-only: entries are never edited or removed; `records export --exclude-quarantined` honours every entry."
    )

    @Option(help: "Records directory.") var dir: String
    @Option(help: "The model version to quarantine.") var modelVersion: String
    @Option(help: "Window start, RFC 3339 UTC (inclusive), e.g. 2026-11-25T18:00:00Z.") var from: String
    @Option(help: "Window end, RFC 3339 UTC (exclusive).") var to: String
    @Option(help: "Why (kept in the history).") var reason: String
    @Option(help: "Who (default: $USER).") var by: String?

    func validate() throws {
        for (name, v) in [("--from", from), ("--to", to)] where !(v.count >= 10 && v.hasPrefix("20")) {
            throw ValidationError("\(name) must be an RFC 3339 UTC time such as 2026-11-25T18:00:00Z")
        }
        guard from < to else { throw ValidationError("--from must be before --to") }
    }

    func run() throws {
        var ts: [UInt8] = []
        Log.appendTimestamp(&ts)
        var line: [UInt8] = Array("{\"ts\":".utf8)
        JSONText.appendString(&line, ts)
        for (key, value) in [
            ("model_version", modelVersion), ("from", from), ("to", to), ("reason", reason),
            ("by", by ?? (getenv("USER").flatMap { String(validatingCString: $0) } ?? "unknown")),
        ] {
            line.append(contentsOf: ",\"\(key)\":".utf8)
            JSONText.appendString(&line, value.utf8)
        }
        line.append(contentsOf: "}\n".utf8)
        let fd = open(dir + "/quarantine.jsonl", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ValidationError("cannot open \(dir)/quarantine.jsonl for appending") }
        defer { close(fd) }
        let n = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard n == line.count else { throw ValidationError("writing the quarantine entry failed") }
        fsync(fd)
        print("quarantined \(modelVersion) from \(from) to \(to)")
    }
}

struct RecordsExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract:
            "Write the records fit for training to stdout: everything matching the filters, minus quarantined windows.")

    @OptionGroup var filters: RecordFilters
    @ArgumentParser.Flag(help: "Skip every record inside a quarantined window (DIR/quarantine.jsonl).")
    var excludeQuarantined = false

    func run() throws {
        let quarantine = excludeQuarantined ? try QuarantineEntry.load(filters.dir) : []
        var exported = 0
        var skipped = 0
        try filters.forEach { r, line in
            if quarantine.contains(where: { $0.covers(r) }) {
                skipped += 1
                return
            }
            exported += 1
            writeLine(line)
        }
        fflush(nil)
        printError("exported \(exported) records, skipped \(skipped) quarantined\n")
    }
}

/// The records files of a directory, oldest first: rotated ones by modification time, then the
/// active `records.jsonl`.
func recordFiles(in dir: String) -> [String] {
    guard let d = opendir(dir) else { return [] }
    var found: [(String, Int)] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard name.hasSuffix(".jsonl"), name.hasPrefix("records") else { continue }
        var st = stat()
        let path = dir + "/" + name
        guard stat(path, &st) == 0 else { continue }
        found.append((path, name == "records.jsonl" ? Int.max : Int(st.st_mtim.tv_sec)))
    }
    closedir(d)
    return found.sorted { $0.1 < $1.1 }.map(\.0)
}
