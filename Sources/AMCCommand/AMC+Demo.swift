import ArgumentParser
import Foundation
import Ingest
import Kafka
import Logging
import Postgres

extension AMC {
    /// `amc demo`: the whole loop on the embedded default, with a readable report.
    struct Demo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the pipeline end to end on the embedded default and print what landed.",
            discussion: """
                Starts a local PostgreSQL under .amc/postgres and the embedded Kafka, replays a Clickture-style \
                click log (the shipped sample unless --clicks is given) and ingests it; then streams a simulated \
                world, bootstraps the AMC model, evaluates it against the baselines, shifts some queries' intent, \
                fine-tunes online, rolls back and re-activates; prints a report, writes .amc/report/index.html \
                and stops everything it started.
                """
        )

        @OptionGroup var options: GlobalOptions

        @Option(help: "Click log to replay instead of the shipped sample (key demo.clicks).")
        var clicks: String?

        @Option(help: "Working folder for the local database (key demo.directory). Default: .amc")
        var directory: String?

        func run() async throws {
            var flags = FlagValues()
            flags.set("demo.clicks", clicks, flag: "--clicks")
            flags.set("demo.directory", directory, flag: "--directory")
            let settings = try await options.resolve(extra: flags)
            let logger = Logger(label: "amc.demo")
            let sample = try settings.reader.string(forKey: "demo.clicks") ?? Self.sampleLogPath()
            let directory = try settings.reader.nonEmptyString(forKey: "demo.directory", default: ".amc")
            let root = URL(fileURLWithPath: directory, isDirectory: true).standardizedFileURL
            let migrations = try settings.migrationsDirectory()

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

        static func sampleLogPath() throws -> String {
            guard let url = Bundle.module.url(forResource: "sample-clicks", withExtension: "tsv") else {
                throw CommandError("the shipped sample log is missing from this build; pass --clicks FILE")
            }
            return url.path
        }
    }
}

/// What landed in PostgreSQL, for the demo's report.
struct DemoReport {
    var events = 0
    var pairs = 0
    var deadLetters: [(reason: String, count: Int, example: String)] = []
    var gaps = 0
    var offsets: [(partition: Int32, next: Int64)] = []
    var topPairs: [(query: String, image: String, clicks: Int64, relevance: Double, grade: Int)] = []
    var skipped: [(query: String, image: String, skips: Int64, relevance: Double)] = []

    static func load(databaseURL: String, logger: Logger) throws -> DemoReport {
        let connection = try PostgresConnection.connect(databaseURL, logger: logger)
        defer { connection.close() }
        var report = DemoReport()
        let store = IngestSummaryStore(connection: connection)
        (report.events, report.pairs, report.gaps) = try store.counts()
        report.deadLetters = try store.deadLetterReasons()
        report.offsets = try store.nextOffsets(topic: "clicks")
        report.topPairs = try store.mostRelevantPairs(limit: 8)
        report.skipped = try store.mostSkippedPairs(limit: 4)
        return report
    }

    func render(produced: Int) -> String {
        var out = "\n== what landed ==\n"
        let dead = deadLetters.reduce(0) { $0 + $1.count }
        out += "messages replayed      \(produced)\n"
        out += "click events ingested  \(events)\n"
        out += "dead letters           \(dead)\n"
        out +=
            "accounted for          \(events + dead == produced ? "all \(produced) (events + dead letters)" : "MISMATCH: \(events + dead) of \(produced)")\n"
        out += "relevance pairs        \(pairs)\n"
        out += "lost offset ranges     \(gaps)\n"
        out += "stored offsets         " + offsets.map { "p\($0.partition)=\($0.next)" }.joined(separator: " ") + "\n"
        if !deadLetters.isEmpty {
            out += "\n-- dead letters by reason --\n"
            for letter in deadLetters {
                out +=
                    "  \(letter.reason.padding(toLength: 20, withPad: " ", startingAt: 0)) \(letter.count)   e.g. \(letter.example)\n"
            }
        }
        out += "\n-- most relevant pairs --\n"
        for pair in topPairs {
            out +=
                "  \(pair.query.padding(toLength: 32, withPad: " ", startingAt: 0)) \(pair.image)  clicks \(pair.clicks)  relevance \(String(format: "%.2f", pair.relevance))  grade \(pair.grade)\n"
        }
        if !skipped.isEmpty {
            out += "\n-- most skipped (shown above a click, not clicked) --\n"
            for pair in skipped {
                out +=
                    "  \(pair.query.padding(toLength: 32, withPad: " ", startingAt: 0)) \(pair.image)  skips \(pair.skips)  relevance \(String(format: "%.2f", pair.relevance))\n"
            }
        }
        return out
    }
}
