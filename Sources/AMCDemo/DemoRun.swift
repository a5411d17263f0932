import CommandSupport
import Foundation
import Ingest
import Kafka
import Logging

/// One run of `amc demo`: a local PostgreSQL and the embedded Kafka under a working folder, a click log replayed
/// and ingested, the learning stage (``DemoLearning``), a text report on standard output and an HTML report in
/// `report/index.html` under the folder.
public struct DemoRun: Sendable {
    /// The click log to replay (``sampleLogPath()`` for the shipped one).
    public var sample: String
    /// The working folder (`postgres/` and `report/` go under it).
    public var root: URL
    /// The migrations the demo database gets.
    public var migrations: URL

    /// A run replaying `sample` under `root`.
    public init(sample: String, root: URL, migrations: URL) {
        self.sample = sample
        self.root = root
        self.migrations = migrations
    }

    /// Runs the demo end to end and stops everything it started.
    public func run() async throws {
        let (sample, root, migrations) = (sample, root, migrations)
        let logger = Logger(label: "amc.demo")
        print("▸ starting PostgreSQL under \(root.path)/postgres and the embedded Kafka")
        let stack = try await onBlockingThread {
            try EmbeddedStack(
                directory: root.appendingPathComponent("postgres"),
                migrations: migrations,
                topics: ["clicks", "world"],
                partitions: 4,
                fastUnsafe: false,
                logger: logger
            )
        }
        do {
            let databaseURL = try await onBlockingThread { try stack.freshDatabase("amc_demo") }
            print("▸ database amc_demo migrated; broker at \(stack.cluster.bootstrapServers)")

            let brokers = stack.cluster.bootstrapServers
            let produced = try await onBlockingThread {
                let producer = try KafkaProducer(config: KafkaConfig(bootstrapServers: brokers), logger: logger)
                var publisher = ClickPublisher(producer: producer, topic: "clicks")
                var reader = try LineReader(path: sample)
                while let line = try reader.next() { _ = try publisher.publish(line) }
                try producer.flush(timeout: .seconds(30))
                return publisher.sent
            }
            print("▸ replayed \(produced) click-log lines from \(sample) into topic clicks")

            var configuration = IngestConfiguration()
            configuration.untilIdle = .seconds(2)
            let started = ContinuousClock.now
            try await IngestService(
                configuration: configuration,
                kafka: KafkaConfig(bootstrapServers: brokers),
                databaseURL: databaseURL,
                logger: logger
            ).run()
            print("▸ ingest finished in \(String(format: "%.1f", (ContinuousClock.now - started).seconds)) s")

            let report = try await onBlockingThread {
                try DemoReport.load(databaseURL: databaseURL, logger: logger)
            }
            print(report.render(produced: produced))

            print("\n▸ learning: a simulated world, bootstrap, an intent shift, online fine-tuning, a rollback")
            let learning = try await DemoLearning(
                databaseURL: databaseURL,
                brokers: brokers,
                topic: "world",
                logger: logger
            ).run(say: { print("▸ " + $0) })
            print(learning.render())
            let page = root.appendingPathComponent("report", isDirectory: true)
            try FileManager.default.createDirectory(at: page, withIntermediateDirectories: true)
            try learning.html().write(
                to: page.appendingPathComponent("index.html"),
                atomically: true,
                encoding: .utf8
            )
            print("▸ wrote \(page.path)/index.html")
        } catch {
            _ = try? await onBlockingThread { stack.stop() }
            throw error
        }
        try await onBlockingThread { stack.stop() }
        print("▸ stopped the broker and PostgreSQL")
    }

    /// The click log shipped with `amc` (Clickture-style, with malformed lines).
    public static func sampleLogPath() throws -> String {
        guard let url = Bundle.module.url(forResource: "sample-clicks", withExtension: "tsv") else {
            throw CommandError("the shipped sample log is missing from this build; pass --clicks FILE")
        }
        return url.path
    }
}
