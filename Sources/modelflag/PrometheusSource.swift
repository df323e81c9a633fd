import Glibc
import Rules

/// `modelflag gate --source prometheus://HOST:PORT`: the promotion gates' observation counters
/// (`modelflag_gate_observations_total`, `modelflag_gate_sum_total`) that every sidecar exports
/// and the Prometheus that scrapes them already holds, added up across pods.
///
/// Instant queries over the HTTP API, one per point in time; the arithmetic is done here, per
/// series, rather than in PromQL: with `--since T` each series counts its value now minus its
/// value at T (0 if it did not exist yet; a series that restarted counts from its restart), then
/// the series are summed by flag × variant × role × segment × gate. No extrapolation (unlike
/// `increase()`), so counts stay whole.
enum PrometheusSource {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    struct Total {
        var labels: [String: String]
        var n = 0.0
        var sum = 0.0
    }

    static let selector = #"{__name__=~"modelflag_gate_(observations|sum)_total"}"#

    /// Gate totals by (flag, variant, role, segment, gate).
    static func totals(_ spec: String, since: Int?, timeoutSeconds: Int = 10) throws -> [Total] {
        let target = String(spec.dropFirst("prometheus://".count)).split(separator: "/").first.map(String.init) ?? ""
        let now = try values(target, time: nil, timeoutSeconds: timeoutSeconds)
        guard !now.isEmpty else {
            throw Failure(
                description:
                    "\(target): Prometheus has no modelflag_gate_* series (are the sidecars scraped, and do their flags have gates?)"
            )
        }
        let before = try since.map { try values(target, time: $0, timeoutSeconds: timeoutSeconds) } ?? [:]
        var out: [String: Total] = [:]
        for (series, value) in now.values {
            guard let name = series.labels["__name__"] else { continue }
            var delta = value - (before[series.id]?.1 ?? 0)
            if delta < 0 { delta = value }  // the counter restarted since T
            var labels = series.labels
            for k in Array(labels.keys) where !["flag", "variant", "role", "segment", "gate"].contains(k) {
                labels[k] = nil
            }
            let key = ["flag", "variant", "role", "segment", "gate"].map { labels[$0] ?? "" }.joined(separator: "\u{1}")
            var t = out[key] ?? Total(labels: labels)
            if name == "modelflag_gate_observations_total" { t.n += delta } else { t.sum += delta }
            out[key] = t
        }
        return Array(out.values)
    }

    struct Series {
        var labels: [String: String]
        /// Every label, name included (instance and job tell pods apart).
        var id: String
    }

    /// One instant query: each series' value, by its full label set.
    static func query(_ target: String, time: Int?, timeoutSeconds: Int) throws -> [(Series, Double)] {
        var path = "/api/v1/query?query=" + percentEncode(selector)
        if let time { path += "&time=\(time)" }
        let body: [UInt8]
        do {
            body = try HTTPGet.get(target, path: path, timeoutSeconds: timeoutSeconds)
        } catch {
            throw Failure(description: "prometheus://\(target): \(error)")
        }
        guard let root = try? JSONParser.parse(body), root["status"]?.string == "success",
            let result = root["data"]?["result"]?.array
        else {
            throw Failure(description: "prometheus://\(target): not a Prometheus query answer")
        }
        var out: [(Series, Double)] = []
        for r in result {
            guard let metric = r["metric"]?.object, let pair = r["value"]?.array, pair.count == 2,
                let text = pair[1].string, let v = Double(text), v.isFinite
            else { continue }
            var labels: [String: String] = [:]
            for (k, n) in metric { labels[k] = n.string ?? "" }
            let id = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\u{1}")
            out.append((Series(labels: labels, id: id), v))
        }
        return out
    }

    /// The same, keyed by series id.
    private static func values(_ target: String, time: Int?, timeoutSeconds: Int) throws -> [String: (Series, Double)] {
        var out: [String: (Series, Double)] = [:]
        for (s, v) in try query(target, time: time, timeoutSeconds: timeoutSeconds) { out[s.id] = (s, v) }
        return out
    }

    static func percentEncode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            let c = Character(Unicode.Scalar(b))
            if (b >= 0x30 && b <= 0x39) || ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A) || "-._~".contains(c) {
                out.append(c)
            } else {
                out += "%" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// Seconds since the epoch of an RFC 3339 UTC time or a prefix of one (`2026-11-25T18`).
    static func unixTime(_ text: String) -> Int? {
        let digits = text.filter(\.isNumber)
        guard digits.count >= 4 else { return nil }
        let padded = Array(digits + String(repeating: "0", count: max(0, 14 - digits.count)).prefix(14))
        func field(_ from: Int, _ n: Int) -> Int32 { Int32(String(padded[from..<(from + n)])) ?? 0 }
        var t = tm()
        t.tm_year = field(0, 4) - 1900
        t.tm_mon = max(0, field(4, 2) - 1)
        t.tm_mday = max(1, field(6, 2))
        t.tm_hour = field(8, 2)
        t.tm_min = field(10, 2)
        t.tm_sec = field(12, 2)
        return timegm(&t)
    }
}
