/// A value in the compiled evaluator: plain data (no reference counting), so evaluating a rule
/// retains and releases nothing. Strings point into memory that outlives the evaluation: the
/// program's constants, or the scratch arena the request's context values were copied into.
public struct SlotValue: @unchecked Sendable {
    enum Tag: UInt8 {
        case null, bool, number, string, array
    }

    var tag: Tag
    /// Bool (0/1) or number.
    var num: Double = 0
    var ptr: UnsafeRawPointer?
    /// String length in bytes, or the index of an array in `EvalScratch.arrays`.
    var len = 0

    static var null: SlotValue { SlotValue(tag: .null) }
    static func bool(_ b: Bool) -> SlotValue { SlotValue(tag: .bool, num: b ? 1 : 0) }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: ptr, count: len) }
}

/// Per-thread memory the compiled evaluator reuses across requests: the context values of the
/// current request (strings copied into an arena it owns), and the value stack.
///
/// Not thread-safe: one per event loop (the router's), or one per call in tests.
public final class EvalScratch {
    var slots: UnsafeMutablePointer<SlotValue>
    var slotCapacity = 0
    var stack: UnsafeMutablePointer<SlotValue>
    var stackCapacity = 0
    var arena: UnsafeMutableRawPointer
    var arenaCapacity = 0
    /// The context's values for the current request (kept so array values can be read back).
    var values: [Value] = []
    /// Arrays met in the context, by index (the rare case the plain representation cannot hold).
    var arrays: [Value] = []

    public init() {
        slotCapacity = 16
        slots = .allocate(capacity: slotCapacity)
        stackCapacity = 64
        stack = .allocate(capacity: stackCapacity)
        arenaCapacity = 4096
        arena = .allocate(byteCount: arenaCapacity, alignment: 8)
    }

    deinit {
        slots.deallocate()
        stack.deallocate()
        arena.deallocate()
    }

    func reserve(slots n: Int, stack depth: Int) {
        if n > slotCapacity {
            slots.deallocate()
            slotCapacity = n
            slots = .allocate(capacity: n)
        }
        if depth > stackCapacity {
            stack.deallocate()
            stackCapacity = depth
            stack = .allocate(capacity: depth)
        }
    }

    /// Copies the collected `values` into slots (strings into the arena).
    func storeValues() {
        var bytes = 0
        for v in values { if case .string(let s) = v { bytes += s.count } }
        if bytes > arenaCapacity {
            arena.deallocate()
            arenaCapacity = max(bytes, arenaCapacity * 2)
            arena = .allocate(byteCount: arenaCapacity, alignment: 8)
        }
        arrays.removeAll(keepingCapacity: true)
        var offset = 0
        for (i, v) in values.enumerated() {
            switch v {
            case .null: slots[i] = .null
            case .bool(let b): slots[i] = .bool(b)
            case .number(let n): slots[i] = SlotValue(tag: .number, num: n)
            case .string(let s):
                let dst = arena + offset
                s.withUnsafeBytes { src in
                    if let base = src.baseAddress { dst.copyMemory(from: base, byteCount: src.count) }
                }
                slots[i] = SlotValue(tag: .string, ptr: UnsafeRawPointer(dst), len: s.count)
                offset += s.count
            case .array:
                slots[i] = SlotValue(tag: .array, len: arrays.count)
                arrays.append(v)
            }
        }
    }

    /// Back to a `Value` (rare paths: arrays, number/string coercion text).
    func value(_ v: SlotValue) -> Value {
        switch v.tag {
        case .null: return .null
        case .bool: return .bool(v.num != 0)
        case .number: return .number(v.num)
        case .string: return .string(ArraySlice(v.bytes))
        case .array: return arrays[v.len]
        }
    }
}
