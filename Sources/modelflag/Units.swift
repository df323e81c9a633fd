import ArgumentParser

/// A duration flag: `250ms`, `10s`, `2m`, or a bare number of seconds.
struct Duration: ExpressibleByArgument, CustomStringConvertible, Sendable {
    let milliseconds: UInt64

    init(ms: UInt64) { milliseconds = ms }

    init?(argument: String) {
        let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (suffix, factor) in units where argument.hasSuffix(suffix) {
            let number = argument.dropLast(suffix.count)
            if suffix == "s" && number.hasSuffix("m") { continue }
            guard let v = Double(number), v >= 0 else { return nil }
            milliseconds = UInt64(v * factor)
            return
        }
        guard let v = Double(argument), v >= 0 else { return nil }
        milliseconds = UInt64(v * 1000)
    }

    var description: String {
        milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }
}

/// A size flag: `8MiB`, `64KiB`, `1GiB`, or a number of bytes.
struct ByteSize: ExpressibleByArgument, CustomStringConvertible, Sendable {
    let bytes: Int

    init(bytes: Int) { self.bytes = bytes }

    init?(argument: String) {
        let units: [(String, Int)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30),
        ]
        for (suffix, factor) in units where argument.hasSuffix(suffix) {
            guard let v = Int(argument.dropLast(suffix.count)), v >= 0 else { return nil }
            bytes = v * factor
            return
        }
        guard let v = Int(argument), v >= 0 else { return nil }
        bytes = v
    }

    var description: String {
        if bytes % (1 << 20) == 0 && bytes > 0 { return "\(bytes >> 20)MiB" }
        if bytes % (1 << 10) == 0 && bytes > 0 { return "\(bytes >> 10)KiB" }
        return "\(bytes)"
    }
}
