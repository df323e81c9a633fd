import Rules
import Synchronization
import UVCore

/// A validated rule set with its upstream addresses already resolved (off the loop), ready to
/// install in every worker.
public struct RulesUpdate: Sendable {
    public let rules: RuleSet
    public let addresses: [SocketAddress]

    /// Resolves every upstream address; nil and an error text when one does not resolve.
    public static func resolve(_ rules: RuleSet) -> (RulesUpdate?, String?) {
        var addresses: [SocketAddress] = []
        for u in rules.upstreams {
            guard let a = try? SocketAddress(u.address) else {
                return (nil, "upstream '\(u.name)': cannot resolve address '\(u.address)'")
            }
            addresses.append(a)
        }
        return (RulesUpdate(rules: rules, addresses: addresses), nil)
    }
}

/// What `/rules` and the rules metrics report.
public struct RulesStatus: Sendable {
    public var path: String?
    public var revision: String?
    public var loadedAt: String?
    public var lastError: String?
    public var lastErrorAt: String?
    public var reloads = 0
    public var failures = 0
    public var lastReloadSuccessful = true
}

/// The rules every worker should use, published by the watcher on the main loop.
final class RulesChannel: Sendable {
    private let current = Mutex<RulesUpdate?>(nil)
    private let generation = Atomic<Int>(0)
    let status = Mutex(RulesStatus())

    func publish(_ update: RulesUpdate) {
        current.withLock { $0 = update }
        generation.add(1, ordering: .releasing)
    }

    var gen: Int { generation.load(ordering: .acquiring) }
    var latest: RulesUpdate? { current.withLock { $0 } }
}
