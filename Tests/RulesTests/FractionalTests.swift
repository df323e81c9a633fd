import Rules
import Testing

/// Golden values from flagd's cross-language test bed (flagd-testbed `gherkin/targeting.feature`,
/// `@fractional-v2` examples, and `flags/custom-ops.json`), not from our own output.
@Suite struct FractionalTests {
    @Test func murmur3HashEdgeVectorsFromTheTestbed() {
        #expect(Murmur3.hash32(Array("ejOoVL".utf8)) == 0)
        #expect(Murmur3.hash32(Array("bY9fO-".utf8)) == 1)
        #expect(Murmur3.hash32(Array("SI7p-".utf8)) == 2_147_483_647)
        #expect(Murmur3.hash32(Array("6LvT0".utf8)) == 2_147_483_648)
        #expect(Murmur3.hash32(Array("ceQdGm".utf8)) == 4_294_967_295)
    }

    static let cards = """
        {
          "fractional-flag": {
            "state": "ENABLED",
            "variants": {"clubs": "stable", "diamonds": "stable", "hearts": "candidate", "spades": "candidate", "wild": "stable"},
            "defaultVariant": "wild",
            "targeting": {"fractional": [
              {"cat": [{"var": "$flagd.flagKey"}, {"var": "body.user.name"}]},
              ["clubs", 25], ["diamonds", 25], ["hearts", 25], ["spades", 25]
            ]}
          },
          "fractional-flag-shorthand": {
            "state": "ENABLED",
            "variants": {"heads": "stable", "tails": "candidate", "draw": "stable"},
            "defaultVariant": "draw",
            "targeting": {"fractional": [["heads"], ["tails", 1]]}
          },
          "fractional-flag-A-shared-seed": {
            "state": "ENABLED",
            "variants": {"clubs": "stable", "diamonds": "stable", "hearts": "candidate", "spades": "candidate", "wild": "stable"},
            "defaultVariant": "wild",
            "targeting": {"fractional": [
              {"cat": ["shared-seed", {"var": "body.user.name"}]},
              ["clubs", 25], ["diamonds", 25], ["hearts", 25], ["spades", 25]
            ]}
          },
          "fractional-hash-edge-flag": {
            "state": "ENABLED",
            "variants": {"lower": "stable", "upper": "candidate", "none": "stable"},
            "defaultVariant": "none",
            "targeting": {"fractional": [{"var": "targetingKey"}, ["lower", 50], ["upper", 50]]}
          }
        }
        """

    @Test(arguments: [("jack", "hearts"), ("queen", "spades"), ("ten", "clubs"), ("nine", "diamonds"), ("3", "clubs")])
    func fractionalFlag(_ name: String, _ expected: String) throws {
        let set = try rules(file(flags: Self.cards))
        let ctx = DictContext(values: [.body(["user", "name"]): .string(name)])
        #expect(variantName(set, "fractional-flag", ctx) == expected)
    }

    @Test(arguments: [("jon@company.com", "heads"), ("jane@company.com", "tails")])
    func shorthand(_ key: String, _ expected: String) throws {
        let set = try rules(file(flags: Self.cards))
        #expect(
            variantName(set, "fractional-flag-shorthand", DictContext(values: [.targetingKey: .string(key)]))
                == expected)
    }

    @Test(arguments: [("seven", "hearts"), ("eight", "diamonds"), ("nine", "clubs"), ("two", "spades")])
    func sharedSeed(_ name: String, _ expected: String) throws {
        let set = try rules(file(flags: Self.cards))
        let ctx = DictContext(values: [.body(["user", "name"]): .string(name)])
        #expect(variantName(set, "fractional-flag-A-shared-seed", ctx) == expected)
    }

    @Test(arguments: [
        ("ejOoVL", "lower"), ("bY9fO-", "lower"), ("SI7p-", "lower"), ("6LvT0", "upper"), ("ceQdGm", "upper"),
    ])
    func hashEdges(_ key: String, _ expected: String) throws {
        let set = try rules(file(flags: Self.cards))
        #expect(
            variantName(set, "fractional-hash-edge-flag", DictContext(values: [.targetingKey: .string(key)]))
                == expected)
    }

    @Test func noTargetingKeyFallsBackToTheDefaultVariant() throws {
        let set = try rules(file(flags: Self.cards))
        #expect(variantName(set, "fractional-flag-shorthand", DictContext()) == "draw")
    }

    static func split(_ candidateWeight: Int, flag: String = "chat") -> String {
        """
        {"\(flag)": {"state": "ENABLED", "variants": {"stable": "stable", "candidate": "candidate"}, "defaultVariant": "stable",
          "targeting": {"fractional": [["candidate", \(candidateWeight)], ["stable", \(100 - candidateWeight)]]}}}
        """
    }

    @Test func distributionIsWithinHalfAPercentagePointOver100kKeys() throws {
        let set = try rules(file(flags: Self.split(10)))
        var candidate = 0
        for i in 0..<100_000 {
            if variantName(set, "chat", DictContext(values: [.targetingKey: .string("user-\(i)")])) == "candidate" {
                candidate += 1
            }
        }
        let share = Double(candidate) / 1000.0
        #expect(abs(share - 10.0) <= 0.5, "candidate share \(share) %")
    }

    /// Raising the candidate's weight keeps everyone who already had it (candidate listed first).
    @Test func rampUpIsMonotonic() throws {
        let at5 = try rules(file(flags: Self.split(5)))
        let at25 = try rules(file(flags: Self.split(25)))
        var kept = 0
        var had = 0
        for i in 0..<20_000 {
            let ctx = DictContext(values: [.targetingKey: .string("user-\(i)")])
            if variantName(at5, "chat", ctx) == "candidate" {
                had += 1
                if variantName(at25, "chat", ctx) == "candidate" { kept += 1 }
            }
        }
        #expect(had > 800)
        #expect(kept == had)
    }

    @Test func flagsAreIndependent() throws {
        let set = try rules(
            file(
                flags: "{" + Self.split(50, flag: "a").dropFirst().dropLast() + ","
                    + Self.split(50, flag: "b").dropFirst()))
        var same = 0
        for i in 0..<10_000 {
            let ctx = DictContext(values: [.targetingKey: .string("u\(i)")])
            if variantName(set, "a", ctx) == variantName(set, "b", ctx) { same += 1 }
        }
        // Independent 50/50 splits agree about half the time, not always.
        #expect(same > 4_500 && same < 5_500)
    }
}
