/// Staged rollout of one variant (`rollout` in a flag): where targeting gives no variant, the
/// current stage says which share of each segment's requests the variant gets, sticky per
/// targeting key (the same bucketing as `fractional`: MurmurHash3 of flag key + key). Stages go
/// segment by segment, low-risk first; `modelflag gate --apply` moves `stage` forward when every
/// gate passes, or to -1 (no traffic) when one fails, and every sidecar hot-reloads the file.
///
/// ```json
/// "rollout": {"variant": "candidate", "stage": 1,
///             "stages": [{"faq": 1}, {"faq": 5, "*": 1}, {"faq": 25, "*": 5}, {"*": 100}]}
/// ```
public struct Rollout: Sendable {
    /// Index into the flag's variants.
    public var variant: Int
    /// The stage in force; -1 = rolled back (the variant gets nothing).
    public var stage: Int
    /// Per stage: (segment index into the flag's segments, or nil for `*`) → percent.
    public var stages: [[(segment: Int?, percent: Double)]]

    /// The percentage for a request that matched `segments` (bit i = flag segment i): the first
    /// matched segment the stage names, else its `*`, else 0.
    public func percent(matched segments: UInt64) -> Double {
        guard stage >= 0, stage < stages.count else { return 0 }
        var star = 0.0
        for entry in stages[stage] {
            if let s = entry.segment {
                if s < 64 && segments & (1 << UInt64(s)) != 0 { return entry.percent }
            } else {
                star = entry.percent
            }
        }
        return star
    }

    /// Whether the request with this targeting key is inside `percent` (sticky, flagd bucketing).
    public static func inside(flagKey: [UInt8], key: ArraySlice<UInt8>, percent: Double) -> Bool {
        if percent <= 0 { return false }
        if percent >= 100 { return true }
        var h = Murmur3()
        h.add(flagKey)
        h.add(key)
        let bucket = (UInt64(h.finalize()) * 10_000) >> 32
        return Double(bucket) < percent * 100
    }
}
