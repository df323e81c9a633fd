import Glibc

/// Process-wide signal set-up, done once before any loop thread starts (threads inherit it).
public enum ProcessSignals {
    /// Ignores SIGPIPE (a write to a closed socket must be an error value, not a process kill), and
    /// unblocks SIGTERM, SIGINT and SIGHUP: a supervisor or test runner may start us with them
    /// blocked, and then graceful shutdown would never be heard.
    public static func prepare() {
        signal(SIGPIPE, SIG_IGN)
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&set, s) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}
