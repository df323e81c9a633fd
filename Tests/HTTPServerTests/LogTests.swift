import Glibc
import HTTPServer
import Testing

@Suite struct LogTests {
    /// The arithmetic calendar gives glibc's `gmtime_r` answer for every day from 1900 to 2200 (at
    /// a time of day that moves through the day) and for random times across ±10,000 years.
    @Test func civilDateMatchesGmtime() {
        var rng = SystemRandomNumberGenerator()
        var times: [Int] = []
        for day in -25_567...84_000 { times.append(day * 86_400 + (day &* 7_919) % 86_400) }
        for _ in 0..<200_000 { times.append(Int.random(in: -315_000_000_000...315_000_000_000, using: &rng)) }
        times += [0, -1, 86_399, 86_400, 951_782_400, 951_868_799, 4_107_542_400]  // 2000-02-29, 2100-03-01
        var mismatches = 0
        for t in times {
            var tt = t
            var expected = tm()
            gmtime_r(&tt, &expected)
            let c = Log.civil(t)
            let ok =
                c.year == Int(expected.tm_year) + 1900 && c.month == Int(expected.tm_mon) + 1
                && c.day == Int(expected.tm_mday)
                && c.second == Int(expected.tm_hour) * 3_600 + Int(expected.tm_min) * 60 + Int(expected.tm_sec)
            if !ok {
                mismatches += 1
                if mismatches < 5 { Issue.record("time \(t): \(c) against gmtime \(expected)") }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func timestampIsRFC3339WithMilliseconds() {
        var buf: [UInt8] = []
        Log.appendTimestamp(&buf, seconds: 1_772_064_184, milliseconds: 7)
        #expect(String(decoding: buf, as: UTF8.self) == "2026-02-26T00:03:04.007Z")
        buf = []
        Log.appendTimestamp(&buf, seconds: 951_825_599, milliseconds: 999)
        #expect(String(decoding: buf, as: UTF8.self) == "2000-02-29T11:59:59.999Z")
    }
}
