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
///
/// When the variant is confidence-gated, a stage entry may also lower the gate's threshold step
/// by step: `{"faq": {"percent": 100, "threshold": 0.9}}`.
public struct Rollout: Sendable {
    /// One segment's share in a stage.
    public struct Entry: Sendable {
        /// Index into the flag's segments; nil for `*`.
        public var segment: Int?
        public var percent: Double
        /// Replaces the gated variant's confidence threshold for these requests.
        public var threshold: Double?
    }

    /// Index into the flag's variants.
    public var variant: Int
    /// The stage in force; -1 = rolled back (the variant gets nothing).
    public var stage: Int
    public var stages: [[Entry]]
    /// Segments whose gates failed (bit i = flag segment i): their requests never get the
    /// variant, whatever the stage says, while the healthy segments move on.
    public var blocked: UInt64 = 0

    /// The entry for a request that matched `segments` (bit i = flag segment i): the first
    /// matched segment the stage names, else its `*`, else none.
    public func entry(matched segments: UInt64) -> Entry? {
        guard stage >= 0, stage < stages.count, segments & blocked == 0 else { return nil }
        var star: Entry?
        for entry in stages[stage] {
            if let s = entry.segment {
                if s < 64 && segments & (1 << UInt64(s)) != 0 { return entry }
            } else {
                star = entry
            }
        }
        return star
    }

    /// The share (0…100) of requests that matched `segments` sent to the variant.
    public func percent(matched segments: UInt64) -> Double { entry(matched: segments)?.percent ?? 0 }

    /// The stage's confidence threshold for requests that matched `segments`, if it sets one.
    public func threshold(matched segments: UInt64) -> Double? { entry(matched: segments)?.threshold }

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
