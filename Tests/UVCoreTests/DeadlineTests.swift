import Testing
import UVCore

@Suite struct DeadlineTests {
    @Test func movingADeadlineLaterFiresOnceAtTheLaterTime() throws {
        let loop = try Loop()
        var fired = 0
        var firedAt: UInt64 = 0
        let start = loop.now
        let d = try Deadline(loop: loop) {
            fired += 1
            firedAt = loop.now
        }
        d.set(ms: 5)
        d.set(ms: 40)  // later: the armed timer fires early, re-arms, then fires the callback once
        loop.run()
        #expect(fired == 1)
        #expect(firedAt - start >= 40)
        d.close()
        #expect(loop.closeAll() == 0)
    }

    @Test func movingADeadlineEarlierAndClearing() throws {
        let loop = try Loop()
        var fired = 0
        let d = try Deadline(loop: loop) { fired += 1 }
        d.set(ms: 10_000)
        d.set(ms: 1)  // earlier: re-armed, fires soon
        loop.run()
        #expect(fired == 1)
        d.set(ms: 1)
        d.clear()  // cleared: the timer's firing is ignored
        loop.run()
        #expect(fired == 1)
        d.close()
        #expect(loop.closeAll() == 0)
    }
}
