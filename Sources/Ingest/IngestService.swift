import Kafka
import Logging
import Postgres
import ServiceLifecycle

/// `amc ingest` as a ``Service``: consumes click messages from Kafka and lands them in PostgreSQL exactly once.
///
/// On graceful shutdown (SIGTERM/SIGINT through the ``ServiceGroup``) or task cancellation it finishes the batch
/// in flight, leaves the consumer group and returns. With ``IngestConfiguration/untilIdle`` set it also returns
/// after that long without a new message.
public struct IngestService: Service {
    private let configuration: IngestConfiguration
    private let kafka: KafkaConfig
    private let databaseURL: DatabaseURL
    private let logger: Logger
    private let onProgress: (@Sendable (IngestProgress) -> Void)?

    /// - Parameters:
    ///   - configuration: Group, topics, batching and retry settings.
    ///   - kafka: Brokers and any librdkafka properties.
    ///   - databaseURL: PostgreSQL URL or conninfo; the schema must be migrated (`amc migrate`).
    ///   - logger: Receives the service's logs.
    ///   - onProgress: Called on the ingest thread after every committed transaction with running totals.
    public init(
        configuration: IngestConfiguration,
        kafka: KafkaConfig,
        databaseURL: String,
        logger: Logger,
        onProgress: (@Sendable (IngestProgress) -> Void)? = nil
    ) {
        self.configuration = configuration
        self.kafka = kafka
        self.databaseURL = DatabaseURL(databaseURL)
        self.logger = logger
        self.onProgress = onProgress
    }

    public func run() async throws {
        let worker = IngestWorker(
            configuration: configuration,
            kafka: kafka,
            databaseURL: databaseURL,
            logger: logger,
            onProgress: onProgress
        )
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await worker.runOnDedicatedThread()
            } onCancel: {
                worker.requestStop()
            }
        } onGracefulShutdown: {
            worker.requestStop()
        }
    }
}
