/// Where byte encoders write (JSON text, decimals, timestamps, hex, captured bodies): a `[UInt8]`
/// or a `ByteWriter`. The encoders are generic over it, so each use is specialized for its buffer.
public protocol ByteSink {
    mutating func appendByte(_ byte: UInt8)
    mutating func appendBytes(_ bytes: UnsafeRawBufferPointer)
    /// Lets `body` write up to `maxCount` bytes in place, and keeps the number it returns.
    mutating func appendInPlace(maxCount: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int)
}

extension Array: ByteSink where Element == UInt8 {
    @inlinable
    public mutating func appendByte(_ byte: UInt8) { append(byte) }

    @inlinable
    public mutating func appendBytes(_ bytes: UnsafeRawBufferPointer) { append(contentsOf: bytes) }

    /// (An array has no uninitialized tail to write into: the space is zero-filled first.)
    @inlinable
    public mutating func appendInPlace(maxCount: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int) {
        let start = count
        append(contentsOf: repeatElement(0, count: maxCount))
        let written = withUnsafeMutableBytes { body(UnsafeMutableRawBufferPointer(rebasing: $0[start...])) }
        removeLast(maxCount - written)
    }
}

/// A growable byte buffer for output built on the event loop (records): an append is a capacity
/// check and a copy. `[UInt8]` checks uniqueness and goes through the generic sequence path on
/// every append (about 6 ns against 1 ns, measured; a record takes a hundred appends), and cannot
/// lend uninitialized space for text escaped in place.
///
/// Loop-confined, owned by one encoder and reused: `removeAll` keeps the memory.
public final class ByteWriter: ByteSink {
    @usableFromInline var base: UnsafeMutableRawPointer
    @usableFromInline var capacity: Int
    /// Bytes written so far.
    @usableFromInline var used = 0
    public var count: Int { used }

    /// Memory the first growth takes at least (`init(firstUse:)`), so a buffer that may never be
    /// used costs 16 bytes and one that is gets its working size in one step.
    @usableFromInline let firstGrowth: Int

    public init(capacity: Int = 1024) {
        self.capacity = max(capacity, 16)
        firstGrowth = 0
        base = .allocate(byteCount: self.capacity, alignment: 16)
    }

    /// A buffer that allocates `capacity` bytes only when first written (one per idle client
    /// connection adds up: 2,000 connections that never send a request held 7 KiB each this way).
    public init(firstUse capacity: Int) {
        self.capacity = 16
        firstGrowth = capacity
        base = .allocate(byteCount: 16, alignment: 16)
    }

    deinit { base.deallocate() }

    @usableFromInline
    func grow(to needed: Int) {
        let newCapacity = max(needed, capacity * 2, firstGrowth)
        let new = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        new.copyMemory(from: base, byteCount: used)
        base.deallocate()
        base = new
        capacity = newCapacity
    }

    @inlinable
    public func appendByte(_ byte: UInt8) {
        if used == capacity { grow(to: used + 1) }
        base.storeBytes(of: byte, toByteOffset: used, as: UInt8.self)
        used += 1
    }

    @inlinable
    public func appendBytes(_ bytes: UnsafeRawBufferPointer) {
        guard let from = bytes.baseAddress, bytes.count > 0 else { return }
        if used + bytes.count > capacity { grow(to: used + bytes.count) }
        (base + used).copyMemory(from: from, byteCount: bytes.count)
        used += bytes.count
    }

    @inlinable
    public func append(_ literal: StaticString) {
        appendBytes(UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// A `String`'s UTF-8 (contiguous for native strings: one copy).
    public func appendUTF8(_ string: String) {
        var s = string
        s.withUTF8 { appendBytes(UnsafeRawBufferPointer($0)) }
    }

    @inlinable
    public func appendInPlace(maxCount: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int) {
        if used + maxCount > capacity { grow(to: used + maxCount) }
        let written = body(UnsafeMutableRawBufferPointer(start: base + used, count: maxCount))
        precondition(written >= 0 && written <= maxCount, "appendInPlace: wrote outside the space it was given")
        used += written
    }

    /// Empties the buffer, keeping its memory.
    public func removeAll() { used = 0 }

    /// Empties the buffer and gives back memory over `limit` bytes (grown by one large output):
    /// the buffer starts again at `limit`.
    public func removeAll(keepingAtMost limit: Int) {
        used = 0
        guard capacity > limit else { return }
        base.deallocate()
        capacity = max(limit, 16)
        base = .allocate(byteCount: capacity, alignment: 16)
    }

    /// Bytes of memory the buffer holds.
    public var capacityBytes: Int { capacity }

    /// Drops the last `n` bytes (n ≤ count).
    public func removeLast(_ n: Int) {
        precondition(n >= 0 && n <= used)
        used -= n
    }

    /// The bytes written so far, valid until the next change.
    @inlinable
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: used))
    }

    /// A copy of the bytes as an array (to hand to another owner).
    public func array() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: used) { p, n in
            if used > 0 { UnsafeMutableRawPointer(p.baseAddress!).copyMemory(from: base, byteCount: used) }
            n = used
        }
    }
}
