import Glibc
import Records

/// Scores shadow pairs and writes their records on a thread of its own, so the comparators, the
/// shadow record's encoding and the statistics never take the event loop's time (issue 6): at
/// saturation the loop thread is the bottleneck, and every microsecond spent there after a
/// client's answer delays the next clients' answers.
///
/// The loop hands over each ended pair (`submit`, a copy-free move of what the pair owns) to a
/// bounded queue and never waits: when the queue is full the pair is scored on the loop as before,
/// so nothing is dropped. The thread takes the queue in batches (it is woken for a full batch, else
/// looks every `batchDelayMs`), so a record reaches the writer within a few milliseconds.
/// One per process, shared by the workers; `close` scores what is queued, after the loops stopped
/// and before the record writer closes.
final class PairScorer: @unchecked Sendable {
    /// One ended pair: what its scores, record and statistics need, owned by the job (the shadow
    /// exchange that made it is reused at once). The route is immutable once routed and its rule
    /// set is `Sendable`; nothing here is touched by the loop after `submit`.
    struct Job: @unchecked Sendable {
        var served: AnswerSummary
        var wantsJSON: Bool
        var input: RecordInput
        var capture: ResponseCapture
    }

    let records: RecordWriter?
    let stats: SegmentStats?
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()
    private var queue: [Job] = []
    private var closing = false
    private var asleep = false
    private var thread = pthread_t()
    /// Thread state: its own encoder and scoring buffers.
    private var encoder = RecordEncoder()
    private let scratch = ScoreScratch()
    static let capacity = 4096
    static let wakeBatch = 64
    static let batchDelayMs = 2

    init(records: RecordWriter?, stats: SegmentStats?) {
        self.records = records
        self.stats = stats
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
        queue.reserveCapacity(PairScorer.wakeBatch)
        let me = Unmanaged.passRetained(self).toOpaque()
        pthread_create(
            &thread, nil,
            { arg in
                let scorer = Unmanaged<PairScorer>.fromOpaque(arg!).takeRetainedValue()
                scorer.run()
                return nil
            }, me)
    }

    /// Queues a pair; false when the queue is full or closing (the caller scores it itself).
    func submit(_ job: Job) -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        guard !closing, queue.count < PairScorer.capacity else { return false }
        queue.append(job)
        if queue.count == PairScorer.wakeBatch || asleep {
            asleep = false
            pthread_cond_signal(&cond)
        }
        return true
    }

    /// Scores and writes what is queued, then stops the thread. Call once the loops stopped.
    func close() {
        pthread_mutex_lock(&mutex)
        let already = closing
        closing = true
        pthread_cond_signal(&cond)
        pthread_mutex_unlock(&mutex)
        if !already { pthread_join(thread, nil) }
    }

    private func run() {
        var batch: [Job] = []
        while true {
            pthread_mutex_lock(&mutex)
            while !closing && queue.count < PairScorer.wakeBatch {
                if queue.isEmpty {
                    asleep = true
                    pthread_cond_wait(&cond, &mutex)
                    asleep = false
                    continue
                }
                var ts = timespec()
                clock_gettime(CLOCK_REALTIME, &ts)
                let ns = Int(ts.tv_nsec) + PairScorer.batchDelayMs * 1_000_000
                ts.tv_sec += ns / 1_000_000_000
                ts.tv_nsec = ns % 1_000_000_000
                _ = pthread_cond_timedwait(&cond, &mutex, &ts)
                break
            }
            swap(&batch, &queue)
            let stop = closing && batch.isEmpty
            pthread_mutex_unlock(&mutex)
            for i in batch.indices {
                PairScorer.complete(&batch[i], encoder: &encoder, scratch: scratch, records: records, stats: stats)
            }
            batch.removeAll(keepingCapacity: batch.capacity <= 4 * PairScorer.wakeBatch)
            if stop { return }
        }
    }

    /// Scores one pair, writes its shadow record and counts it: on this thread, or on the loop
    /// when the queue was full.
    static func complete(
        _ job: inout Job, encoder: inout RecordEncoder, scratch: ScoreScratch, records: RecordWriter?,
        stats: SegmentStats?
    ) {
        let input = job.input
        let shadow = AnswerSummary(notes: input.notes, outcome: input.outcome, capture: job.capture, endNs: input.endNs)
        let scores = PairScores(served: job.served, shadow: shadow, wantsJSON: job.wantsJSON, scratch: scratch)
        if let records { encoder.write(input, response: &job.capture, scores: scores, to: records) }
        if let stats, let route = input.route,
            let event = SegmentStats.event(
                route: route, variant: input.variant, role: "shadow", outcome: input.outcome, notes: input.notes,
                endNs: input.endNs, scores: scores)
        {
            stats.observe(event)
        }
    }

    deinit {
        pthread_cond_destroy(&cond)
        pthread_mutex_destroy(&mutex)
    }
}
