/// flagd's `sem_ver` operator: compares semantic versions (a leading v/V is ignored, build
/// metadata is ignored, missing minor/patch count as 0, pre-releases sort before releases).
public enum SemVer {
    public enum Op: String, Sendable, CaseIterable {
        case eq = "=", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">=", caret = "^", tilde = "~"
    }

    struct Version: Comparable {
        var major: Int, minor: Int, patch: Int
        var pre: [String]

        static func < (a: Version, b: Version) -> Bool {
            if a.major != b.major { return a.major < b.major }
            if a.minor != b.minor { return a.minor < b.minor }
            if a.patch != b.patch { return a.patch < b.patch }
            if a.pre.isEmpty || b.pre.isEmpty { return !a.pre.isEmpty && b.pre.isEmpty }
            for (x, y) in zip(a.pre, b.pre) where x != y {
                switch (Int(x), Int(y)) {
                case (let i?, let j?): return i < j
                case (.some, nil): return true
                case (nil, .some): return false
                default: return x < y
                }
            }
            return a.pre.count < b.pre.count
        }
    }

    static func parse(_ text: String) -> Version? {
        var s = Substring(text)
        if s.hasPrefix("v") || s.hasPrefix("V") { s = s.dropFirst() }
        if let plus = s.firstIndex(of: "+") { s = s[..<plus] }
        var pre: [String] = []
        if let dash = s.firstIndex(of: "-") {
            pre = s[s.index(after: dash)...].split(separator: ".").map(String.init)
            s = s[..<dash]
        }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count) else { return nil }
        var nums: [Int] = []
        for p in parts {
            guard let n = Int(p), n >= 0 else { return nil }
            nums.append(n)
        }
        while nums.count < 3 { nums.append(0) }
        return Version(major: nums[0], minor: nums[1], patch: nums[2], pre: pre)
    }

    public static func compare(_ a: String, _ op: Op, _ b: String) -> Bool? {
        guard let x = parse(a), let y = parse(b) else { return nil }
        return compare(x, op, y)
    }

    static func compare(_ x: Version, _ op: Op, _ y: Version) -> Bool {
        switch op {
        case .eq: return x == y
        case .ne: return x != y
        case .lt: return x < y
        case .le: return x <= y
        case .gt: return x > y
        case .ge: return x >= y
        case .caret: return x.major == y.major
        case .tilde: return x.major == y.major && x.minor == y.minor
        }
    }
}
