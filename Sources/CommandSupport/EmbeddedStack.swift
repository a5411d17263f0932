import Foundation
import Kafka
import Logging
import Postgres

/// The embedded default the demo and the benchmarks run on: a throwaway PostgreSQL server in a local folder and
/// librdkafka's in-process mock cluster.
public final class EmbeddedStack: Sendable {
    /// The local PostgreSQL server.
    public let postgres: LocalPostgresServer
    /// The in-process Kafka mock cluster.
    public let cluster: MockKafkaCluster
    /// The migrations every fresh database gets.
    public let migrations: URL
    private let logger: Logger

    /// Starts PostgreSQL under `directory` and a mock Kafka cluster with `topics`.
    public init(
        directory: URL,
        migrations: URL,
        topics: [String],
        partitions: Int32,
        fastUnsafe: Bool,
        logger: Logger
    ) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        postgres = LocalPostgresServer(directory: directory, fastUnsafe: fastUnsafe, logger: logger)
        try postgres.start()
        cluster = try MockKafkaCluster(brokers: 1, logger: logger)
        for topic in topics {
            try cluster.createTopic(topic, partitions: partitions)
        }
        self.migrations = migrations
        self.logger = logger
    }

    /// Creates (or re-creates) an empty, migrated database and returns its URL.
    public func freshDatabase(_ name: String) throws -> String {
        try? postgres.dropDatabase(name)
        try postgres.createDatabase(name)
        let url = postgres.url(database: name)
        let connection = try PostgresConnection.connect(url, retryingFor: .seconds(10), logger: logger)
        defer { connection.close() }
        try Migrator(directory: migrations).migrate(connection)
        return url
    }

    /// Stops the broker and the database server.
    public func stop() {
        cluster.shutdown()
        do {
            try postgres.stop()
        } catch {
            logger.warning("could not stop the local PostgreSQL", metadata: ["error": "\(error)"])
        }
    }
}
