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
            abstract: "Consume clicks from Kafka into PostgreSQL, exactly once (runs until SIGTERM or idle)."
        )

        @OptionGroup var options: GlobalOptions

        @OptionGroup var metricsOptions: MetricsOptions

        @Option(help: "Consumer group (key ingest.group). Default: amc-ingest.")
        var group: String?

        @Option(name: .customLong("topic"), help: "Topic to consume, repeatable (key ingest.topic). Default: clicks.")
        var topics: [String] = []

        @Option(help: "Exit after this many seconds without a new message (key ingest.untilIdleSeconds).")
        var untilIdle: Double?

        @Option(help: "Most messages per transaction (key ingest.batch.maxRecords). Default: 100000.")
        var batchSize: Int?

        @Option(help: "Longest a message waits in an open batch, ms (key ingest.batch.maxLatencyMs). Default: 200.")
        var batchLatencyMs: Int?

        func run() async throws {
            var flags = FlagValues()
            flags.set("ingest.group", group)
            flags.set("ingest.topic", topics)
            flags.set("ingest.batch.maxRecords", batchSize)
            flags.set("ingest.batch.maxLatencyMs", batchLatencyMs)
            flags.set("ingest.untilIdleSeconds", untilIdle)
            metricsOptions.set(into: &flags)
            let settings = try await options.resolve(extra: flags)
            let configuration = try settings.ingestConfiguration()
            let logger = Logger(label: "amc.ingest")
            let metricsEndpoint = try settings.metricsEndpoint(logger: logger)
            let service = IngestService(
                configuration: configuration,
                kafka: try settings.kafkaConfig(),
                databaseURL: try settings.databaseURL(),
                logger: logger
            )
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)]
                        + (metricsEndpoint.map { [$0] } ?? []),
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            try await group.run()
        }
    }
}

extension Settings {
    /// Ingest settings from the layered configuration, checked.
    func ingestConfiguration() throws -> IngestConfiguration {
        var configuration = IngestConfiguration()
        configuration.groupID = reader.string(forKey: "ingest.group", default: configuration.groupID)
        configuration.topics = reader.stringArray(forKey: "ingest.topic", default: configuration.topics)
        configuration.batchMaxRecords = reader.int(
            forKey: "ingest.batch.maxRecords",
            default: configuration.batchMaxRecords
        )
        guard configuration.batchMaxRecords >= 1 else {
            throw CommandError("ingest.batch.maxRecords (--batch-size) must be at least 1")
        }
        if let latency = reader.int(forKey: "ingest.batch.maxLatencyMs") {
            guard latency >= 1 else {
                throw CommandError("ingest.batch.maxLatencyMs (--batch-latency-ms) must be at least 1")
            }
            configuration.batchMaxLatency = .milliseconds(latency)
        }
        if let idle = reader.double(forKey: "ingest.untilIdleSeconds") {
            guard idle > 0 else { throw CommandError("ingest.untilIdleSeconds (--until-idle) must be positive") }
            configuration.untilIdle = .seconds(idle)
        }
        if let warn = reader.double(forKey: "ingest.assignment.warnSeconds") {
            guard warn > 0 else { throw CommandError("ingest.assignment.warnSeconds must be positive") }
            configuration.assignmentWarning = .seconds(warn)
        }
        if let timeout = reader.double(forKey: "ingest.assignment.timeoutSeconds") {
            guard timeout > 0 else { throw CommandError("ingest.assignment.timeoutSeconds must be positive") }
            configuration.assignmentTimeout = .seconds(timeout)
        }
        guard !configuration.groupID.isEmpty, !configuration.topics.isEmpty else {
            throw CommandError("ingest.group and ingest.topic must not be empty")
        }
        return configuration
    }
}
