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
    /// Bytes of the arena the current request's strings use.
    var arenaUsed = 0
    /// Strings that did not fit in the arena (rare: over 4 KiB of strings in one request's
    /// slots), each in its own block until the next request's slots are loaded.
    var overflow: [UnsafeMutableRawPointer] = []
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
        for block in overflow { block.deallocate() }
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

    /// Bytes the previous request put in `overflow`.
    var overflowBytes = 0

    /// Forgets the previous request's slot values (their strings and arrays). When they did not
    /// fit, the arena grows to hold that much, so rules that read long values do not allocate
    /// on every request.
    @inline(__always)
    func beginSlots() {
        if !overflow.isEmpty { growAfterOverflow() }
        arenaUsed = 0
        if !arrays.isEmpty { arrays.removeAll(keepingCapacity: true) }
    }

    /// Out of line: the request path only tests `overflow`.
    @inline(never)
    private func growAfterOverflow() {
        for block in overflow { block.deallocate() }
        overflow.removeAll(keepingCapacity: true)
        arena.deallocate()
        arenaCapacity = max(arenaCapacity * 2, arenaUsed + overflowBytes)
        arena = .allocate(byteCount: arenaCapacity, alignment: 8)
        overflowBytes = 0
    }

    /// Stores `v` as slot `i`, its string bytes copied (slots hold no references: evaluating
    /// retains nothing). One pass over the context's values, with no array of them in between.
    @inline(__always)
    func store(_ v: Value, at i: Int) {
        switch v {
        case .null: slots[i] = .null
        case .bool(let b): slots[i] = .bool(b)
        case .number(let n): slots[i] = SlotValue(tag: .number, num: n)
        case .string(let s):
            let count = s.count
            let dst: UnsafeMutableRawPointer
            if arenaUsed + count <= arenaCapacity {
                dst = arena + arenaUsed
                arenaUsed += count
            } else {
                dst = .allocate(byteCount: max(count, 1), alignment: 8)
                overflow.append(dst)
                overflowBytes += count
            }
            s.withUnsafeBytes { src in
                if let base = src.baseAddress { dst.copyMemory(from: base, byteCount: count) }
            }
            slots[i] = SlotValue(tag: .string, ptr: UnsafeRawPointer(dst), len: count)
        case .array:
            slots[i] = SlotValue(tag: .array, len: arrays.count)
            arrays.append(v)
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
