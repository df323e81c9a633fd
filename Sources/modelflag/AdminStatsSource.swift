import Rules

/// `modelflag gate --source admin://HOST:PORT[,HOST:PORT...]`: reads each sidecar's `GET /stats`
/// (its 10-minute window) and adds the pods' figures up.
enum AdminStatsSource {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The `/stats` rows of every sidecar, in order.
    static func rows(_ spec: String, timeoutSeconds: Int = 5) throws -> [JSONNode] {
        var out: [JSONNode] = []
        for target in spec.dropFirst("admin://".count).split(separator: ",") {
            let body = try HTTPGet.get(String(target), path: "/stats", timeoutSeconds: timeoutSeconds)
            guard let root = try? JSONParser.parse(body), let rows = root["rows"]?.array else {
                throw Failure(description: "\(target)/stats: not a modelflag /stats answer")
            }
            out.append(contentsOf: rows)
        }
        return out
    }
}
