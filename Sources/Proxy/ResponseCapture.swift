import HTTP1
import Rules

/// What a recorded exchange keeps of its response as it streams past, per the flag's capture
/// policy: the last bytes (where `"usage"` sits), the answer text, and the body prefix (`full`)
/// or a running SHA-256 (`hash`).
///
/// Loop-confined, reused across a connection's exchanges. Bounded: nothing here grows with the
/// response beyond `Forwarder.tailKeep`, the capture cap and `AnswerText.maxPending`.
struct ResponseCapture {
    private(set) var mode: CaptureSpec.Mode = .none
    private(set) var cap = 0
    private(set) var wantsAnswer = false
    /// The end of the body, where the last `"usage"` object is found.
    private(set) var tail: [UInt8] = []
    /// The first `cap + 1` bytes (`full`).
    private(set) var prefix: [UInt8] = []
    private(set) var total = 0
    private var hasher: SHA256?
    private(set) var answer = AnswerText(cap: 0)
    /// The token counts of the last `"usage"` object in `tail`, read once by `finish` (the record
    /// and the pair's scores both use them).
    private(set) var usage: Usage?
    static let tailKeep = 8 * 1024

    /// Buffer bytes this capture holds (kept across reuses).
    var retainedBytes: Int { tail.capacity + prefix.capacity + answer.retainedBytes }

    /// Resets for a new exchange. `answer`: assemble the answer text (shadow scoring, captures).
    mutating func reset(_ spec: CaptureSpec?, answer wantsAnswer: Bool) {
        mode = spec?.mode ?? .none
        cap = spec?.maxBodyBytes ?? 0
        self.wantsAnswer = wantsAnswer || mode != .none
        tail.removeAll(keepingCapacity: true)
        prefix.removeAll(keepingCapacity: true)
        total = 0
        usage = nil
        hasher = mode == .hash ? SHA256() : nil
        if self.wantsAnswer && answer.cap != max(cap, CaptureSpec.defaultMaxBodyBytes) {
            answer = AnswerText(cap: max(cap, CaptureSpec.defaultMaxBodyBytes))
        }
    }

    mutating func start(_ head: ResponseHead) {
        if wantsAnswer { answer.start(head) }
    }

    mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        total += bytes.count
        tail.append(contentsOf: bytes)
        if tail.count > 2 * ResponseCapture.tailKeep { tail.removeFirst(tail.count - ResponseCapture.tailKeep) }
        if wantsAnswer { answer.feed(bytes) }
        switch mode {
        case .none: break
        case .hash: hasher?.update(bytes)
        case .full:
            if prefix.count <= cap { prefix.append(contentsOf: bytes.prefix(cap + 1 - prefix.count)) }
        }
    }

    /// The body ended (or the exchange did): assembles the answer and reads the usage.
    mutating func finish() {
        if wantsAnswer { answer.finish() }
        usage = Usage.find(in: tail)
    }

    /// The body's SHA-256 as hex (`hash` mode), once the body ended.
    mutating func digestHex<B: ByteSink>(into out: inout B) {
        guard var h = hasher else { return }
        h.finalizeHex(into: &out)
        hasher = nil
    }
}
