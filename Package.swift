// swift-tools-version:6.2
import PackageDescription

// The model's kernels use AVX2 and FMA on x86-64 (x86-64-v3, spelled `haswell` for LLVM; every x86-64 server CPU
// since 2013): twice the SIMD width for the same elementwise IEEE operations, and the kernels' explicit fused
// multiply–adds in one instruction each, so the same bits (Swift never contracts `a * b + c` by itself).
// Docs/model.md, "Numerics and determinism".
#if arch(x86_64)
let modelCPUSettings: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
#else
let modelCPUSettings: [SwiftSetting] = []
#endif

let package = Package(
    name: "amc-stream",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "amc", targets: ["AMCCommand"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // MARK: - C libraries (only `Kafka` and `Postgres` import these)
        .systemLibrary(
            name: "Crdkafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"]), .brew(["librdkafka"])]
        ),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),

        // MARK: - Wrappers
        .target(
            name: "Kafka",
            dependencies: [
                "Crdkafka",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Postgres",
            dependencies: [
                "CLibPQ",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: - Domain
        .target(name: "ClickLog"),
        .target(
            name: "Model",
            // The numeric kernels are optimised in every configuration: unoptimised, training in the test suite
            // would be tens of times slower. Debugging inside Model is rare; drop this flag locally when needed.
            swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))] + modelCPUSettings
        ),
        .target(name: "Simulation", dependencies: ["Model", "ClickLog"]),
        .target(name: "Evaluation"),
        .target(
            name: "Catalog",
            dependencies: ["ClickLog", "Postgres", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "Registry",
            dependencies: [
                "Model",
                "Evaluation",
                "Postgres",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "Learning",
            dependencies: [
                "Model",
                "Catalog",
                "Evaluation",
                "Postgres",
                "Registry",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "Provenance",
            dependencies: ["Catalog", "Learning", "Model", "Postgres", "Registry"]
        ),
        .target(
            name: "Ingest",
            dependencies: [
                "Kafka",
                "Postgres",
                "ClickLog",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "Serving",
            dependencies: [
                "Model",
                "Registry",
                "Catalog",
                "ClickLog",
                "Postgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        .target(
            name: "UserSimulation",
            dependencies: [
                "Simulation",
                "Kafka",
                "ClickLog",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // MARK: - The `amc` executable and the libraries it wires
        .target(
            name: "CommandSupport",
            dependencies: [
                "Kafka",
                "Postgres",
                "ClickLog",
                "Evaluation",
                "Learning",
                "Registry",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "AMCBench",
            dependencies: [
                "CommandSupport",
                "Kafka",
                "Postgres",
                "ClickLog",
                "Ingest",
                "Model",
                "Catalog",
                "Evaluation",
                "Learning",
                "Registry",
                "Serving",
                "Simulation",
                "UserSimulation",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "AMCDemo",
            dependencies: [
                "CommandSupport",
                "Kafka",
                "Postgres",
                "ClickLog",
                "Ingest",
                "Model",
                "Simulation",
                "Catalog",
                "Evaluation",
                "Learning",
                "Serving",
                "UserSimulation",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Resources/sample-clicks.tsv")]
        ),
        .executableTarget(
            name: "AMCCommand",
            dependencies: [
                "AMCBench",
                "AMCDemo",
                "CommandSupport",
                "Kafka",
                "Postgres",
                "ClickLog",
                "Ingest",
                "Model",
                "Simulation",
                "Catalog",
                "Evaluation",
                "Registry",
                "Learning",
                "Provenance",
                "Serving",
                "UserSimulation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // MARK: - Tests
        .target(
            name: "TestSupport",
            dependencies: ["Postgres", "Kafka", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "KafkaTests",
            dependencies: [
                "Kafka", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "PostgresTests",
            dependencies: ["Postgres", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "ModelTests",
            dependencies: ["Model"]
        ),
        .testTarget(
            name: "ClickLogTests",
            dependencies: ["ClickLog"]
        ),
        .testTarget(
            name: "SimulationTests",
            dependencies: ["Simulation", "ClickLog", "Model", "Catalog"]
        ),
        .testTarget(
            name: "IngestTests",
            dependencies: [
                "Ingest", "Kafka", "Postgres", "ClickLog", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "EvaluationTests",
            dependencies: ["Evaluation"]
        ),
        .testTarget(
            name: "CatalogTests",
            dependencies: ["Catalog", "Postgres", "TestSupport", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "LearningTestSupport",
            dependencies: [
                "Learning", "Registry", "Catalog", "Evaluation", "Model", "Simulation", "Postgres", "TestSupport",
            ],
            path: "Tests/LearningTestSupport"
        ),
        .testTarget(
            name: "LearningTests",
            dependencies: [
                "Learning", "Registry", "Model", "Catalog", "Evaluation", "Simulation", "Postgres", "TestSupport",
                "LearningTestSupport", "Ingest", "Kafka", "Serving", .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "RegistryTests",
            dependencies: [
                "Registry", "Learning", "Model", "Simulation", "Postgres", "TestSupport", "LearningTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ProvenanceTests",
            dependencies: [
                "Provenance", "Registry", "Learning", "Model", "Simulation", "Postgres", "TestSupport",
                "LearningTestSupport", "Serving", "Ingest", "Kafka", "ClickLog",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "ServingTests",
            dependencies: [
                "Serving", "Registry", "Learning", "Model", "Catalog", "ClickLog", "Simulation", "Postgres",
                "TestSupport",
                "LearningTestSupport", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "UserSimulationTests",
            dependencies: [
                "UserSimulation", "Simulation", "Kafka", "ClickLog", "Ingest", "Serving", "Registry", "Learning",
                "Model", "Postgres", "TestSupport", "LearningTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "AMCCommandTests",
            dependencies: [
                "AMCCommand", "AMCBench", "CommandSupport", "Kafka", "Model", "Postgres", "Serving", "TestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "AMCBenchTests",
            dependencies: [
                "AMCBench", "Model",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "AMCDemoTests",
            dependencies: ["AMCDemo", "Evaluation", "Learning"]
        ),
    ]
)

for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    target.swiftSettings = settings
}
