import Glibc
import Synchronization
import Testing
import UVCore

/// `Loop.queueWork`: the work on another thread, its result on the loop thread, and a loop that
/// closes cleanly whether the work finished or not.
@Suite struct BackgroundWorkTests {
    @Test func workRunsOffTheLoopAndItsResultOnIt() throws {
        let loop = try Loop()
        let loopThread = UInt(bitPattern: Int(bitPattern: pthread_self()))
        var results: [Int] = []
        var doneThreads: [UInt] = []
        let workThreads = Mutex<[UInt]>([])
        for i in 0..<3 {
            loop.queueWork(
                { () -> Int in
                    workThreads.withLock { $0.append(UInt(bitPattern: Int(bitPattern: pthread_self()))) }
                    return i * 10
                },
                done: { value in
                    results.append(value)
                    doneThreads.append(UInt(bitPattern: Int(bitPattern: pthread_self())))
                })
        }
        loop.run()  // returns once the three results are in and their wake-ups closed
        #expect(results.sorted() == [0, 10, 20])
        #expect(doneThreads == [loopThread, loopThread, loopThread])
        let workers = workThreads.withLock { $0 }
        #expect(workers.count == 3)
        #expect(!workers.contains(loopThread))
        #expect(loop.closeAll() == 0)
    }

    /// The loop closes (as at shutdown) while the work still runs: the loop closes cleanly at once,
    /// the result is dropped, and the worker that finishes later touches nothing that was freed.
    @Test func aLoopClosedFirstDropsTheResult() throws {
        let loop = try Loop()
        let release = Atomic<Bool>(false)
        let finished = Atomic<Bool>(false)
        var delivered = 0
        loop.queueWork(
            { () -> Int in
                while !release.load(ordering: .acquiring) { usleep(1000) }
                finished.store(true, ordering: .releasing)
                return 1
            },
            done: { _ in delivered += 1 })
        #expect(loop.closeAll() == 0)
        release.store(true, ordering: .releasing)
        while !finished.load(ordering: .acquiring) { usleep(1000) }
        usleep(50_000)  // the worker's last step (store, no wake-up) after `finished`
        #expect(delivered == 0)
    }
}
