import Glibc
import Testing
import UVCore

@Suite struct ProcessSignalsTests {
    /// A SIGHUP that arrives after `prepare()` and before the watcher exists is held, not acted on
    /// (its default action would end this process), and reaches the watcher once `deliver()` runs.
    @Test func aSignalBeforeItsWatcherIsHeldThenDelivered() throws {
        ProcessSignals.prepare()
        #expect(raise(SIGHUP) == 0)  // to this thread, where it is now blocked: pending
        let loop = try Loop()
        var seen: [Int32] = []
        let watcher = try SignalWatcher(loop: loop, signal: SIGHUP) { seen.append($0) }
        _ = loop.runOnce(wait: false)
        #expect(seen.isEmpty, "a blocked signal was handled before deliver()")
        ProcessSignals.deliver()
        for _ in 0..<100 where seen.isEmpty { _ = loop.runOnce(wait: false) }
        #expect(seen == [SIGHUP])
        watcher.close()
        #expect(loop.closeAll() == 0)
    }
}
