/// A deadline that is cheap to move: setting it writes a number; the libuv timer under it is
/// re-armed only when the new deadline is earlier than the one it is armed for.
///
/// Connections move their deadlines on every request (header, body, idle, upstream timeouts);
/// doing that with `uv_timer_start`/`stop` each time costs heap operations per request. Here a
/// late firing just re-arms for the remaining time. Loop-confined.
public final class Deadline {
    private let timer: Timer
    private let loop: Loop
    /// Absolute loop time (ms) at which the callback is due; 0 = none.
    private var due: UInt64 = 0
    /// Absolute loop time the libuv timer is armed for; 0 = not armed.
    private var armedFor: UInt64 = 0
    private var callback: (() -> Void)?

    public init(loop: Loop, _ callback: @escaping () -> Void) throws(UVError) {
        self.loop = loop
        self.callback = callback
        var fire: (() -> Void)?
        timer = try Timer(loop: loop) { fire?() }
        fire = { [unowned self] in self.timerFired() }
    }

    /// Due `ms` from now (loop time), replacing any earlier setting.
    public func set(ms: UInt64) {
        let now = loop.now
        due = now + max(ms, 1)
        if armedFor == 0 || armedFor > due {
            armedFor = due
            timer.start(ms: due - now)
        }
    }

    /// No deadline. The timer may still fire once and is then ignored.
    public func clear() { due = 0 }

    public var isSet: Bool { due != 0 }

    private func timerFired() {
        armedFor = 0
        guard due != 0 else { return }
        let now = loop.now
        if now >= due {
            due = 0
            callback?()
        } else {
            armedFor = due
            timer.start(ms: due - now)
        }
    }

    public func close() {
        callback = nil
        timer.close()
    }
}
