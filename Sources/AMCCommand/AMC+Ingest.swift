import ArgumentParser
import Configuration
import Ingest
import Kafka
import Logging
import ServiceLifecycle
import UnixSignals

extension AMC {
    /// `amc ingest`: the consumer-group service landing clicks in PostgreSQL exactly once.
    struct Ingest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Consume clicks from Kafka into PostgreSQL, exactly once (runs until SIGTERM or idle).")

        @OptionGroup var options: GlobalOptions

        @Option(help: "Consumer group (key ingest.group). Default: amc-ingest.")
        var group: String?

        @Option(name: .customLong("topic"), help: "Topic to consume, repeatable (key ingest.topic). Default: clicks.")
        var topics: [String] = []

        @Option(help: "Exit after this many seconds without a new message.")
        var untilIdle: Double?

        @Option(help: "Most messages per transaction (key ingest.batch.maxRecords). Default: 100000.")
        var batchSize: Int?

        @Option(help: "Longest a message waits in an open batch, ms (key ingest.batch.maxLatencyMs). Default: 200.")
        var batchLatencyMs: Int?

        func validate() throws {
            if let untilIdle, untilIdle <= 0 { throw ValidationError("--until-idle must be positive") }
            if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
            if let batchLatencyMs, batchLatencyMs < 1 { throw ValidationError("--batch-latency-ms must be at least 1") }
        }

        func run() async throws {
            var flags: [AbsoluteConfigKey: ConfigValue] = [:]
            if let group { flags["ingest.group"] = .init(.string(group), isSecret: false) }
            if !topics.isEmpty { flags["ingest.topic"] = .init(.stringArray(topics), isSecret: false) }
            if let batchSize { flags["ingest.batch.maxRecords"] = .init(.int(batchSize), isSecret: false) }
            if let batchLatencyMs { flags["ingest.batch.maxLatencyMs"] = .init(.int(batchLatencyMs), isSecret: false) }
            let settings = try await options.resolve(extra: flags)
            var configuration = settings.ingestConfiguration()
            configuration.untilIdle = untilIdle.map { .seconds($0) }
            let logger = Logger(label: "amc.ingest")
            let service = IngestService(
                configuration: configuration, kafka: KafkaConfig(bootstrapServers: try settings.brokers()),
                databaseURL: try settings.databaseURL(), logger: logger)
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger))
            try await group.run()
        }
    }
}

extension Settings {
    /// Ingest settings from the layered configuration.
    func ingestConfiguration() -> IngestConfiguration {
        var configuration = IngestConfiguration()
        configuration.groupID = reader.string(forKey: "ingest.group", default: configuration.groupID)
        configuration.topics = reader.stringArray(forKey: "ingest.topic", default: configuration.topics)
        configuration.batchMaxRecords = reader.int(
            forKey: "ingest.batch.maxRecords", default: configuration.batchMaxRecords)
        if let latency = reader.int(forKey: "ingest.batch.maxLatencyMs") {
            configuration.batchMaxLatency = .milliseconds(latency)
        }
        return configuration
    }
}
