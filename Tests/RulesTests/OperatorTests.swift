import Rules
import Testing

@Suite struct OperatorTests {
    func eval(_ targeting: String, _ values: [ContextKey: Value] = [:], evaluators: String = "{}") throws -> String {
        let flags = """
            {"f": {"state": "ENABLED", "variants": {"yes": "candidate", "no": "stable", "dflt": "stable"},
                   "defaultVariant": "dflt", "targeting": \(targeting)}}
            """
        let set = try rules(file(flags: flags, evaluators: evaluators))
        return variantName(set, "f", DictContext(values: values))
    }

    @Test func comparisons() throws {
        let tier: ContextKey = .body(["metadata", "tier"])
        #expect(
            try eval(
                #"{"if": [{"==": [{"var": "body.metadata.tier"}, "enterprise"]}, "yes", "no"]}"#,
                [tier: .string("enterprise")]) == "yes")
        #expect(
            try eval(
                #"{"if": [{"!=": [{"var": "body.metadata.tier"}, "enterprise"]}, "yes", "no"]}"#,
                [tier: .string("free")]) == "yes")
        #expect(
            try eval(
                #"{"if": [{"==": [{"var": "request.messageCount"}, "3"]}, "yes", "no"]}"#,
                [.fact(.messageCount): .number(3)]) == "yes")
        #expect(
            try eval(
                #"{"if": [{"===": [{"var": "request.messageCount"}, "3"]}, "yes", "no"]}"#,
                [.fact(.messageCount): .number(3)]) == "no")
        #expect(
            try eval(
                #"{"if": [{">": [{"var": "request.promptTokens"}, 1000]}, "yes", "no"]}"#,
                [.fact(.promptTokens): .number(1500)]) == "yes")
        #expect(
            try eval(
                #"{"if": [{">=": [{"var": "request.promptTokens"}, 1000]}, "yes", "no"]}"#,
                [.fact(.promptTokens): .number(999)]) == "no")
        #expect(
            try eval(
                #"{"if": [{"<": [{"var": "request.promptTokens"}, 1000]}, "yes", "no"]}"#,
                [.fact(.promptTokens): .number(999)]) == "yes")
        #expect(
            try eval(
                #"{"if": [{"<=": [1, {"var": "request.messageCount"}, 4]}, "yes", "no"]}"#,
                [.fact(.messageCount): .number(4)]) == "yes")
        #expect(
            try eval(
                #"{"if": [{"<": [1, {"var": "request.messageCount"}, 4]}, "yes", "no"]}"#,
                [.fact(.messageCount): .number(4)]) == "no")
    }

    @Test func logic() throws {
        let t: [ContextKey: Value] = [.fact(.hasTools): .bool(true), .fact(.stream): .bool(false)]
        #expect(
            try eval(
                #"{"if": [{"and": [{"var": "request.hasTools"}, {"!": {"var": "request.stream"}}]}, "yes", "no"]}"#, t)
                == "yes")
        #expect(try eval(#"{"if": [{"or": [{"var": "request.stream"}, false]}, "yes", "no"]}"#, t) == "no")
        #expect(
            try eval(#"{"if": [{"!!": {"var": "headers.x-beta"}}, "yes", "no"]}"#, [.header("x-beta"): .string("1")])
                == "yes")
        #expect(try eval(#"{"if": [{"!!": {"var": "headers.x-beta"}}, "yes", "no"]}"#) == "no")
        // if with several conditions, and else-less if giving null → default variant.
        #expect(try eval(#"{"if": [false, "yes", true, "no"]}"#) == "no")
        #expect(try eval(#"{"if": [false, "yes"]}"#) == "dflt")
    }

    @Test func stringsAndMembership() throws {
        let user: ContextKey = .body(["user"])
        #expect(
            try eval(
                #"{"if": [{"in": ["@acme.com", {"var": "body.user"}]}, "yes", "no"]}"#, [user: .string("bob@acme.com")])
                == "yes")
        #expect(
            try eval(#"{"if": [{"in": [{"var": "body.user"}, ["a", "b"]]}, "yes", "no"]}"#, [user: .string("b")])
                == "yes")
        #expect(
            try eval(
                #"{"if": [{"starts_with": [{"var": "body.user"}, "abc"]}, "yes", "no"]}"#, [user: .string("abcdef")])
                == "yes")
        #expect(
            try eval(#"{"if": [{"ends_with": [{"var": "body.user"}, "xyz"]}, "yes", "no"]}"#, [user: .string("uvwxyz")])
                == "yes")
        #expect(
            try eval(#"{"if": [{"ends_with": [{"var": "body.user"}, "xyz"]}, "yes", "no"]}"#, [user: .number(3)])
                == "no")
        #expect(try eval(#"{"if": [{"==": [{"cat": ["a", 1, "b"]}, "a1b"]}, "yes", "no"]}"#) == "yes")
        #expect(
            try eval(#"{"if": [{"==": [{"var": ["body.missing", "fallback"]}, "fallback"]}, "yes", "no"]}"#) == "yes")
    }

    /// flagd-testbed `@semver` examples.
    @Test(arguments: [
        ("2.0.0", "equal"), ("2.1.0", "greater"), ("1.9.0", "lesser"), ("2.0.0-alpha", "lesser"), ("2.0.0.0", "none"),
    ])
    func semver(_ version: String, _ expected: String) throws {
        let flags = """
            {"f": {"state": "ENABLED", "variants": {"equal": "stable", "greater": "stable", "lesser": "stable", "none": "stable"},
              "defaultVariant": "none",
              "targeting": {"if": [{"sem_ver": [{"var": "headers.x-version"}, "=", "2.0.0"]}, "equal",
                                   {"sem_ver": [{"var": "headers.x-version"}, ">", "2.0.0"]}, "greater",
                                   {"sem_ver": [{"var": "headers.x-version"}, "<", "2.0.0"]}, "lesser", "none"]}}}
            """
        let set = try rules(file(flags: flags))
        #expect(variantName(set, "f", DictContext(values: [.header("x-version"): .string(version)])) == expected)
        #expect(SemVer.compare("v1.0.0", .eq, "1.0.0") == true)
        #expect(SemVer.compare("1.0.0+build", .eq, "1.0.0") == true)
        #expect(SemVer.compare("3.0.1", .tilde, "3.0.0") == true)
        #expect(SemVer.compare("3.1.0", .caret, "3.0.0") == true)
    }

    @Test func segmentsByReference() throws {
        let evaluators =
            #"{"enterprise": {"==": [{"var": "body.metadata.tier"}, "enterprise"]}, "big": {"and": [{"$ref": "enterprise"}, {">": [{"var": "request.promptTokens"}, 100]}]}}"#
        let t = #"{"if": [{"$ref": "big"}, "yes", "no"]}"#
        #expect(
            try eval(
                t, [.body(["metadata", "tier"]): .string("enterprise"), .fact(.promptTokens): .number(500)],
                evaluators: evaluators) == "yes")
        #expect(
            try eval(
                t, [.body(["metadata", "tier"]): .string("enterprise"), .fact(.promptTokens): .number(5)],
                evaluators: evaluators) == "no")
    }

    @Test func killSwitchAndUnknownVariant() throws {
        let flags = """
            {"f": {"state": "DISABLED", "variants": {"yes": "candidate", "dflt": "stable"}, "defaultVariant": "dflt", "targeting": {"if": [true, "yes"]}},
             "g": {"state": "ENABLED", "variants": {"yes": "candidate", "dflt": "stable"}, "defaultVariant": "dflt", "targeting": {"if": [true, "nope"]}}}
            """
        let set = try rules(file(flags: flags))
        var trace: Trace?
        let d = set.evaluate(0, context: DictContext(), trace: &trace)
        #expect(d.reason == .disabled)
        #expect(set.upstreams[d.upstream].name == "stable")
        let e = set.evaluate(1, context: DictContext(), trace: &trace)
        #expect(e.reason == .error)
        #expect(set.flags[1].variants[e.variant].name == "dflt")
    }
}
