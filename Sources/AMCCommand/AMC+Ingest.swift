import ArgumentParser
import CommandSupport
import Ingest
import Kafka
import Logging
import ServiceLifecycle
import UnixSignals

extension AMC {
    /// `amc ingest`: the consumer-group service landing clicks in PostgreSQL exactly once.
    struct Ingest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Consume clicks from Kafka into PostgreSQL, exactly once (runs until SIGTERM or idle).",
            usage: "amc ingest [<options>]"
        )

        @OptionGroup var options: GlobalOptions

        @OptionGroup var metricsOptions: MetricsOptions

        @Option(help: "Consumer group (key ingest.group). Default: amc-ingest.")
        var group: String?

        @Option(help: "Static group membership id, e.g. the pod's name (key ingest.instance-id). Default: none.")
        var instanceID: String?

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
            flags.set("ingest.group", group, flag: "--group")
            flags.set("ingest.instance-id", instanceID, flag: "--instance-id")
            flags.set("ingest.topic", topics, flag: "--topic")
            flags.set("ingest.batch.maxRecords", batchSize, flag: "--batch-size")
            flags.set("ingest.batch.maxLatencyMs", batchLatencyMs, flag: "--batch-latency-ms")
            flags.set("ingest.untilIdleSeconds", untilIdle, flag: "--until-idle")
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
        configuration.groupID = try reader.nonEmptyString(forKey: "ingest.group", default: configuration.groupID)
        if let instanceID = try reader.string(forKey: "ingest.instance-id"), !instanceID.isEmpty {
            configuration.instanceID = instanceID
        }
        configuration.topics = try reader.stringArray(forKey: "ingest.topic", default: configuration.topics)
        configuration.batchMaxRecords = try reader.int(
            forKey: "ingest.batch.maxRecords",
            default: configuration.batchMaxRecords,
            bounds: .atLeast(1)
        )
        if let latency = try reader.int(forKey: "ingest.batch.maxLatencyMs", bounds: .within(1...3_600_000)) {
            configuration.batchMaxLatency = .milliseconds(latency)
        }
        if let idle = try reader.double(forKey: "ingest.untilIdleSeconds", bounds: .positiveSeconds) {
            configuration.untilIdle = .seconds(idle)
        }
        if let warn = try reader.double(forKey: "ingest.assignment.warnSeconds", bounds: .positiveSeconds) {
            configuration.assignmentWarning = .seconds(warn)
        }
        if let timeout = try reader.double(forKey: "ingest.assignment.timeoutSeconds", bounds: .positiveSeconds) {
            configuration.assignmentTimeout = .seconds(timeout)
        }
        guard !configuration.topics.isEmpty else { throw CommandError("ingest.topic must name at least one topic") }
        return configuration
    }
}
