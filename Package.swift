// swift-tools-version: 6.0
import PackageDescription

/// Strict settings for every target of ours (see STYLE.md).
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// The request-path modules: strict settings, and in release builds no dynamic exclusivity checks
/// (about 2 % of proxy CPU per request in perf; debug builds and the tests keep them on).
let hotPath: [SwiftSetting] =
    strict + [
        .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
        // Lets the proxy specialize the rules evaluator for its request context across modules.
        .unsafeFlags(["-cross-module-optimization"], .when(configuration: .release)),
    ]

let package = Package(
    name: "ModelFlag",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "modelflag", targets: ["modelflag"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        /// libuv, found through pkg-config (Debian: libuv1-dev).
        .systemLibrary(
            name: "CLibUV",
            pkgConfig: "libuv",
            providers: [.apt(["libuv1-dev"])]
        ),
        /// glibc's `memmem`, which Swift's Glibc module does not export (no `_GNU_SOURCE`).
        .systemLibrary(name: "CGNUString"),
        /// SHA-256 blocks with the CPU's SHA instructions (x86-64 SHA-NI), for record hashes.
        .target(
            name: "CSHA256",
            // DWARF 4: valgrind 3.19 (Debian 12) gives up on clang's default DWARF 5, and callgrind
            // is how request-path instruction counts are compared.
            cSettings: [.unsafeFlags(["-gdwarf-4"])]),
        /// JSON string escaping sixteen bytes at a time (SSE2), for captured bodies in records.
        .target(name: "CJSONEscape", cSettings: [.unsafeFlags(["-gdwarf-4"])]),
        /// Byte scans sixteen at a time (SSE2): the end of a JSON string's plain run for the body
        /// scanner, the words of an answer as hashes for shadow scoring.
        .target(name: "CTextScan", cSettings: [.unsafeFlags(["-gdwarf-4"])]),
        /// The only importer of CLibUV: loop, handles, TCP, timers, signals, wake-ups.
        .target(name: "UVCore", dependencies: ["CLibUV"], swiftSettings: hotPath),
        /// HTTP/1.1 codec: parsers and serializers over bytes. No I/O, stdlib only.
        .target(name: "HTTP1", swiftSettings: hotPath),
        /// Flag rules: the rules file (cold-path JSON), compiled targeting, bucketing, body scanner.
        /// (HTTP1 for `JSONText`: names made JSON literals at load; CTextScan: the body scanner's
        /// string span.)
        .target(name: "Rules", dependencies: ["HTTP1", "CTextScan"], swiftSettings: hotPath),
        /// Output records: append-only JSON Lines files written by one thread, rotation, repair.
        /// (HTTP1 for its byte sinks and decimal writer.)
        .target(name: "Records", dependencies: ["HTTP1"], swiftSettings: hotPath),
        /// The downstream side: accepted connections, request reading, limits, response writing.
        .target(name: "HTTPServer", dependencies: ["UVCore", "HTTP1"], swiftSettings: hotPath),
        /// Upstream pool, forwarding, admin endpoints, metrics, workers and drain.
        .target(
            name: "Proxy",
            dependencies: [
                "UVCore", "HTTP1", "HTTPServer", "Rules", "Records", "CGNUString", "CSHA256", "CJSONEscape",
                "CTextScan",
            ],
            swiftSettings: hotPath),
        /// A stand-in OpenAI-compatible model server for tests, the demo and benchmarks.
        .target(name: "StandIn", dependencies: ["UVCore", "HTTP1", "HTTPServer", "Rules"], swiftSettings: strict),
        .executableTarget(
            name: "modelflag",
            dependencies: [
                "Proxy", "StandIn", "UVCore", "HTTP1", "Rules", "Records",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict,
            linkerSettings: [
                // Static Swift runtime: the image needs only libc and libuv. FoundationEssentials (used by
                // ArgumentParser) needs its collections library named explicitly when linked statically.
                .unsafeFlags(["-static-stdlib"]),
                .linkedLibrary("_FoundationCollections"),
                .linkedLibrary("_FoundationCShims"),
            ]
        ),
        /// Benchmark (not a test): routing time with a 50-rule file. `swift run -c release RulesBench`.
        .executableTarget(name: "RulesBench", dependencies: ["Proxy", "Rules"], swiftSettings: strict),
        .testTarget(name: "HTTP1Tests", dependencies: ["HTTP1"], swiftSettings: strict),
        .testTarget(name: "RulesTests", dependencies: ["Rules"], swiftSettings: strict),
        .testTarget(name: "RecordsTests", dependencies: ["Records"], swiftSettings: strict),
        .testTarget(name: "UVCoreTests", dependencies: ["UVCore"], swiftSettings: strict),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer"], swiftSettings: strict),
        .testTarget(name: "ProxyTests", dependencies: ["Proxy", "HTTP1", "Rules"], swiftSettings: strict),
        .testTarget(name: "IntegrationTests", swiftSettings: strict),
    ]
)
