import Synchronization

/// One piece of blocking work (a file read and parse) on a thread of its own, its result handed
/// back to the loop thread through an `AsyncWake`.
///
/// Not libuv's thread pool: its threads are created where ThreadSanitizer cannot see them, so a
/// sanitized sidecar crashed at the first rules reload. Work is rare (a rules reload), so a thread
/// per piece costs nothing that matters. The result and the waker share one lock: the worker
/// stores the result and wakes under it, the loop takes the result under it, and closing the
/// wake-up (including the loop's close-everything at shutdown) clears the waker under it, so a
/// worker that finishes late never touches a closed handle.
final class BackgroundWork<T: Sendable>: @unchecked Sendable {
    private struct Shared {
        var waker: Waker?
        var result: T?
    }

    private let shared = Mutex(Shared())
    private let work: @Sendable () -> T
    /// Loop thread only.
    private var done: ((T) -> Void)?
    private var wake: AsyncWake?

    init(work: @escaping @Sendable () -> T, done: @escaping (T) -> Void) {
        self.work = work
        self.done = done
    }

    /// Opens the wake-up on `loop` and starts the thread; false (nothing started) if either
    /// cannot be had.
    func start(on loop: Loop) -> Bool {
        guard let wake = try? AsyncWake(loop: loop, { [self] in delivered() }) else { return false }
        self.wake = wake
        shared.withLock { $0.waker = wake.waker }
        wake.onClose = { [self] in shared.withLock { $0.waker = nil } }
        let thread = LoopThread.trySpawn { [self] in
            let value = work()
            shared.withLock {
                $0.result = value
                $0.waker?.wake()
            }
        }
        guard let thread else {
            wake.close()
            self.wake = nil
            return false
        }
        thread.detach()
        return true
    }

    /// On the loop thread, after the worker's wake-up.
    private func delivered() {
        guard let value = shared.withLock({ $0.result.take() }) else { return }
        wake?.close()
        wake = nil
        let done = self.done
        self.done = nil
        done?(value)
    }
}

extension Loop {
    /// Runs `work` on a thread of its own (file reads, parsing: anything that may block), then
    /// `done` with its result on this loop's thread; `done` does not run if the loop closes first.
    /// When no thread can be had, both run here and now: a late reload beats a lost one.
    public func queueWork<T: Sendable>(_ work: @escaping @Sendable () -> T, done: @escaping (T) -> Void) {
        if !BackgroundWork(work: work, done: done).start(on: self) { done(work()) }
    }
}
