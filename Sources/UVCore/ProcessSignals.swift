import Glibc

/// Process-wide signal set-up: `prepare()` once before any loop thread starts (threads inherit
/// the mask), `deliver()` once the loop's signal watchers are installed.
public enum ProcessSignals {
    static let handled: [Int32] = [SIGTERM, SIGINT, SIGHUP]

    /// Ignores SIGPIPE (a write to a closed socket must be an error value, not a process kill) and
    /// blocks SIGTERM, SIGINT and SIGHUP until `deliver()`: one that arrives while the process
    /// starts (after it announced its ports, before its watchers exist) stays pending instead of
    /// taking its default action, which for SIGHUP, the reload signal, is to kill the process.
    public static func prepare() {
        signal(SIGPIPE, SIG_IGN)
        mask(SIG_BLOCK)
    }

    /// Unblocks SIGTERM, SIGINT and SIGHUP on the calling thread (the loop that watches them);
    /// pending ones are handled now. Also undoes a mask inherited from a supervisor or a test
    /// runner that started us with them blocked, so graceful shutdown is always heard.
    public static func deliver() {
        mask(SIG_UNBLOCK)
    }

    private static func mask(_ how: Int32) {
        var set = sigset_t()
        sigemptyset(&set)
        for s in handled { sigaddset(&set, s) }
        pthread_sigmask(how, &set, nil)
    }
}
