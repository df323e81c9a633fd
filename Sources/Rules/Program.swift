import Glibc

/// A flag's targeting compiled once more, from the expression tree to a flat list of plain
/// instructions over a value stack: evaluation walks an array of trivial structs and touches no
/// reference counts. The tree stays for `explain` (it traces every step) and for the few rules the
/// program does not express (`cat`, array literals outside `in`); those flags use the tree.
///
/// Semantics are the tree evaluator's, operator by operator; the rules tests run every case
/// through both and compare.
public final class Program: @unchecked Sendable {
    enum Op: UInt8 {
        case const_, slot, jumpIfFalseKeep, jumpIfTrueKeep, jumpIfFalsePop, jumpIfNotNullKeep, jump, pop
        case not, truthy, compare, between, contains, containsConst, startsWith, endsWith, semverConst, semver
        case fractional, ret
    }

    struct Instr {
        var op: Op
        var a: Int32 = 0
        var b: Int32 = 0
    }

    struct Fractional {
        var hasBucketBy: Bool
        var weights: [UInt64]
        var total: UInt64
        /// Constant indices of the variant names.
        var variants: [Int32]
    }

    let code: UnsafeMutablePointer<Instr>
    let codeCount: Int
    let consts: UnsafeMutablePointer<SlotValue>
    let constCount: Int
    private let constBytes: UnsafeMutableRawPointer
    /// Constant arrays for `in`: ranges of `consts`.
    let constArrays: [Range<Int>]
    let versions: [SemVer.Version?]
    /// The `fractional` splits as plain memory (a split's weights, read per request from arrays,
    /// retained and released both arrays): per split its first part and part count in `splitParts`.
    private let splits: UnsafeMutablePointer<(hasBucketBy: Bool, total: UInt64, first: Int, count: Int)>
    private let splitParts: UnsafeMutablePointer<(weight: UInt64, variant: Int32)>
    /// Slot of the targeting key (for `fractional` without `bucketBy`), -1 when none.
    let targetingKeySlot: Int32
    /// The flag key's bytes (the bucketing prefix), as plain memory for the same reason.
    private let flagKey: UnsafeMutableRawBufferPointer
    let stackDepth: Int

    init(
        code: [Instr], consts: [Value], constArrays: [Range<Int>], versions: [SemVer.Version?],
        fractionals: [Fractional], targetingKeySlot: Int32, flagKey: [UInt8]
    ) {
        codeCount = code.count
        self.code = .allocate(capacity: max(1, code.count))
        self.code.initialize(from: code, count: code.count)
        var bytes = 0
        for c in consts { if case .string(let s) = c { bytes += s.count } }
        constBytes = .allocate(byteCount: max(1, bytes), alignment: 8)
        constCount = consts.count
        self.consts = .allocate(capacity: max(1, consts.count))
        var offset = 0
        for (i, c) in consts.enumerated() {
            switch c {
            case .bool(let b): self.consts[i] = .bool(b)
            case .number(let n): self.consts[i] = SlotValue(tag: .number, num: n)
            case .string(let s):
                let dst = constBytes + offset
                s.withUnsafeBytes { if let base = $0.baseAddress { dst.copyMemory(from: base, byteCount: $0.count) } }
                self.consts[i] = SlotValue(tag: .string, ptr: UnsafeRawPointer(dst), len: s.count)
                offset += s.count
            default: self.consts[i] = .null
            }
        }
        self.constArrays = constArrays
        self.versions = versions
        splits = .allocate(capacity: max(1, fractionals.count))
        splitParts = .allocate(capacity: max(1, fractionals.reduce(0) { $0 + $1.weights.count }))
        var first = 0
        for (i, f) in fractionals.enumerated() {
            // One weight per variant (the compiler makes them in pairs).
            splits[i] = (f.hasBucketBy, f.total, first, min(f.weights.count, f.variants.count))
            for (w, v) in zip(f.weights, f.variants) {
                splitParts[first] = (w, v)
                first += 1
            }
        }
        self.targetingKeySlot = targetingKeySlot
        let keyMemory = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, flagKey.count), alignment: 1)
        flagKey.withUnsafeBytes {
            if let base = $0.baseAddress { keyMemory.baseAddress!.copyMemory(from: base, byteCount: $0.count) }
        }
        self.flagKey = keyMemory
        flagKeyCount = flagKey.count
        stackDepth = code.count + 4
    }

    private let flagKeyCount: Int

    deinit {
        code.deallocate()
        consts.deallocate()
        constBytes.deallocate()
        splits.deallocate()
        splitParts.deallocate()
        flagKey.deallocate()
    }

    // MARK: Evaluation

    /// Runs the program over the slots in `scratch` (filled for this request).
    func run(_ scratch: EvalScratch) -> SlotValue {
        let stack = scratch.stack
        let slots = scratch.slots
        var sp = 0
        var pc = 0
        while true {
            let ins = code[pc]
            pc += 1
            switch ins.op {
            case .const_:
                stack[sp] = consts[Int(ins.a)]
                sp += 1
            case .slot:
                stack[sp] = slots[Int(ins.a)]
                sp += 1
            case .jumpIfFalseKeep:
                if !truthy(stack[sp - 1], scratch) { pc = Int(ins.a) } else { sp -= 1 }
            case .jumpIfTrueKeep:
                if truthy(stack[sp - 1], scratch) { pc = Int(ins.a) } else { sp -= 1 }
            case .jumpIfFalsePop:
                sp -= 1
                if !truthy(stack[sp], scratch) { pc = Int(ins.a) }
            case .jumpIfNotNullKeep:
                if stack[sp - 1].tag != .null { pc = Int(ins.a) } else { sp -= 1 }
            case .jump:
                pc = Int(ins.a)
            case .pop:
                sp -= 1
            case .not:
                stack[sp - 1] = .bool(!truthy(stack[sp - 1], scratch))
            case .truthy:
                stack[sp - 1] = .bool(truthy(stack[sp - 1], scratch))
            case .compare:
                sp -= 1
                let op = Expr.CompareOp.allCases[Int(ins.a)]
                stack[sp - 1] = .bool(compare(op, stack[sp - 1], stack[sp], scratch))
            case .between:
                sp -= 2
                let op = Expr.CompareOp.allCases[Int(ins.a)]
                let a = stack[sp - 1]
                let b = stack[sp]
                let c = stack[sp + 1]
                stack[sp - 1] = .bool(ordered(op, a, b, scratch) && ordered(op, b, c, scratch))
            case .contains:
                sp -= 1
                stack[sp - 1] = .bool(contains(needle: stack[sp - 1], haystack: stack[sp], scratch))
            case .containsConst:
                let needle = stack[sp - 1]
                var found = false
                for i in constArrays[Int(ins.a)] where looselyEquals(consts[i], needle, scratch) {
                    found = true
                    break
                }
                stack[sp - 1] = .bool(found)
            case .startsWith:
                sp -= 1
                let s = stack[sp - 1]
                let p = stack[sp]
                guard s.tag == .string, p.tag == .string, s.len >= p.len else {
                    stack[sp - 1] = .bool(false)
                    continue
                }
                stack[sp - 1] = .bool(p.len == 0 || memcmp(s.ptr!, p.ptr!, p.len) == 0)
            case .endsWith:
                sp -= 1
                let s = stack[sp - 1]
                let p = stack[sp]
                guard s.tag == .string, p.tag == .string, s.len >= p.len else {
                    stack[sp - 1] = .bool(false)
                    continue
                }
                stack[sp - 1] = .bool(p.len == 0 || memcmp(s.ptr! + (s.len - p.len), p.ptr!, p.len) == 0)
            case .semverConst:
                let op = SemVer.Op.allCases[Int(ins.b)]
                // `SemVer.parse` of null's text ("") fails: false, without building the text.
                guard stack[sp - 1].tag != .null, let right = versions[Int(ins.a)],
                    let left = SemVer.parse(text(stack[sp - 1], scratch))
                else {
                    stack[sp - 1] = .bool(false)
                    continue
                }
                stack[sp - 1] = .bool(SemVer.compare(left, op, right))
            case .semver:
                sp -= 1
                let op = SemVer.Op.allCases[Int(ins.b)]
                let result = SemVer.compare(text(stack[sp - 1], scratch), op, text(stack[sp], scratch)) ?? false
                stack[sp - 1] = .bool(result)
            case .fractional:
                let f = splits[Int(ins.a)]
                var hasher = Murmur3()
                var keyed = false
                if f.hasBucketBy {
                    sp -= 1
                    let by = stack[sp]
                    if by.tag == .string {
                        hasher.add(by.bytes)
                        keyed = true
                    }
                }
                if !keyed {
                    let tk = targetingKeySlot >= 0 ? slots[Int(targetingKeySlot)] : .null
                    guard tk.tag == .string else {
                        stack[sp] = .null
                        sp += 1
                        continue
                    }
                    hasher.add(UnsafeRawBufferPointer(rebasing: flagKey[0..<flagKeyCount]))
                    hasher.add(tk.bytes)
                }
                guard f.total > 0, f.total <= UInt64(Int32.max) else {
                    stack[sp] = .null
                    sp += 1
                    continue
                }
                let bucket = (UInt64(hasher.finalize()) * f.total) >> 32
                var end: UInt64 = 0
                var chosen = SlotValue.null
                for k in f.first..<(f.first + f.count) {
                    end += splitParts[k].weight
                    if bucket < end {
                        chosen = consts[Int(splitParts[k].variant)]
                        break
                    }
                }
                stack[sp] = chosen
                sp += 1
            case .ret:
                return stack[sp - 1]
            }
        }
    }

    /// Runs the program and takes JsonLogic truthiness of its result (a segment's rule).
    func runTruthy(_ scratch: EvalScratch) -> Bool { truthy(run(scratch), scratch) }

    @inline(__always)
    private func truthy(_ v: SlotValue, _ scratch: EvalScratch) -> Bool {
        switch v.tag {
        case .null: return false
        case .bool: return v.num != 0
        case .number: return v.num != 0 && !v.num.isNaN
        case .string: return v.len > 0
        case .array: return scratch.value(v).truthy
        }
    }

    /// `Value.numeric`.
    private func numeric(_ v: SlotValue) -> Double? {
        switch v.tag {
        case .number, .bool: return v.num
        case .null: return 0
        case .string:
            guard v.len > 0, v.len < 64 else { return nil }
            return Double(String(decoding: v.bytes, as: UTF8.self))
        case .array: return nil
        }
    }

    private func text(_ v: SlotValue, _ scratch: EvalScratch) -> String {
        v.tag == .string ? String(decoding: v.bytes, as: UTF8.self) : scratch.value(v).text
    }

    @inline(__always)
    private func equalBytes(_ a: SlotValue, _ b: SlotValue) -> Bool {
        a.len == b.len && (a.len == 0 || memcmp(a.ptr!, b.ptr!, a.len) == 0)
    }

    /// `Value.looselyEquals`.
    private func looselyEquals(_ a: SlotValue, _ b: SlotValue, _ scratch: EvalScratch) -> Bool {
        if a.tag == .string && b.tag == .string { return equalBytes(a, b) }
        if a.tag == .null || b.tag == .null { return a.tag == b.tag }
        if a.tag == .array || b.tag == .array { return scratch.value(a).looselyEquals(scratch.value(b)) }
        guard let x = numeric(a), let y = numeric(b) else { return false }
        return x == y
    }

    /// `Value.strictlyEquals`.
    private func strictlyEquals(_ a: SlotValue, _ b: SlotValue, _ scratch: EvalScratch) -> Bool {
        guard a.tag == b.tag else { return false }
        switch a.tag {
        case .null: return true
        case .bool, .number: return a.num == b.num
        case .string: return equalBytes(a, b)
        case .array: return scratch.value(a) == scratch.value(b)
        }
    }

    private func compare(_ op: Expr.CompareOp, _ a: SlotValue, _ b: SlotValue, _ scratch: EvalScratch) -> Bool {
        switch op {
        case .eq: return looselyEquals(a, b, scratch)
        case .ne: return !looselyEquals(a, b, scratch)
        case .strictEq: return strictlyEquals(a, b, scratch)
        case .strictNe: return !strictlyEquals(a, b, scratch)
        default: return ordered(op, a, b, scratch)
        }
    }

    private func ordered(_ op: Expr.CompareOp, _ a: SlotValue, _ b: SlotValue, _ scratch: EvalScratch) -> Bool {
        if a.tag == .string, b.tag == .string, numeric(a) == nil || numeric(b) == nil {
            let n = min(a.len, b.len)
            let c = n == 0 ? 0 : memcmp(a.ptr!, b.ptr!, n)
            let lt = c < 0 || (c == 0 && a.len < b.len)
            let eq = c == 0 && a.len == b.len
            switch op {
            case .lt: return lt
            case .le: return lt || eq
            case .gt: return !lt && !eq
            default: return !lt
            }
        }
        guard let x = numeric(a), let y = numeric(b) else { return false }
        switch op {
        case .lt: return x < y
        case .le: return x <= y
        case .gt: return x > y
        default: return x >= y
        }
    }

    private func contains(needle: SlotValue, haystack: SlotValue, _ scratch: EvalScratch) -> Bool {
        switch haystack.tag {
        case .string:
            guard needle.tag == .string else { return false }
            if needle.len == 0 { return true }
            guard haystack.len >= needle.len else { return false }
            let h = haystack.ptr!
            let n = needle.ptr!
            let first = n.load(as: UInt8.self)
            var i = 0
            let last = haystack.len - needle.len
            while i <= last {
                guard let found = memchr(h + i, Int32(first), last - i + 1) else { return false }
                let at = h.distance(to: UnsafeRawPointer(found))
                if memcmp(h + at, n, needle.len) == 0 { return true }
                i = at + 1
            }
            return false
        case .array:
            guard case .array(let items) = scratch.value(haystack) else { return false }
            let n = scratch.value(needle)
            return items.contains { $0.looselyEquals(n) }
        default:
            return false
        }
    }
}
