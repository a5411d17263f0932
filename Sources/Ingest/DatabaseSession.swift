import CoreMetrics
import Foundation
import Logging
import Postgres

/// One PostgreSQL connection owned by one thread, reconnected on demand, with the retry policy of ingest:
/// transient failures are retried with exponential backoff; after a stop is requested they are retried only
/// for ``IngestConfiguration/shutdownGracePeriod``.
///
/// - Important: Not thread-safe; each ingest thread owns its own session.
final class DatabaseSession {
    private let url: DatabaseURL
    private let configuration: IngestConfiguration
    private let logger: Logger
    private let metrics: IngestMetrics
    private let prepare: (PostgresConnection) throws -> Void
    private let isStopping: () -> Bool
    private let onRetry: () -> Void
    private var connection: PostgresConnection?
    private var stopDeadline: ContinuousClock.Instant?

    init(
        url: DatabaseURL,
        configuration: IngestConfiguration,
        logger: Logger,
        metrics: IngestMetrics,
        prepare: @escaping (PostgresConnection) throws -> Void,
        isStopping: @escaping () -> Bool,
        onRetry: @escaping () -> Void
    ) {
        self.url = url
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
        self.prepare = prepare
        self.isStopping = isStopping
        self.onRetry = onRetry
    }

    /// Runs `body` on the connection, reconnecting and retrying transient failures with exponential backoff.
    /// Other errors are rethrown at once.
    func withRetry<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        var backoff = configuration.retryInitialBackoff
        while true {
            do {
                return try body(try currentConnection())
            } catch let error as PostgresError where error.isTransient {
                if isStopping() {
                    let deadline = stopDeadline ?? (.now + configuration.shutdownGracePeriod)
                    stopDeadline = deadline
                    if ContinuousClock.now >= deadline { throw error }
                }
                onRetry()
                metrics.retries.increment()
                logger.warning(
                    "database unavailable, retrying",
                    metadata: ["postgres.error": "\(error)", "retry.backoff": "\(backoff)"]
                )
                if connection?.isConnected != true {
                    connection?.close()
                    connection = nil
                }
                Thread.sleep(forTimeInterval: backoff.seconds)
                backoff = min(backoff * 2, configuration.retryMaxBackoff)
            }
        }
    }

    /// Closes the connection (a later ``withRetry(_:)`` reconnects).
    func close() {
        connection?.close()
        connection = nil
    }

    private func currentConnection() throws -> PostgresConnection {
        if let connection, connection.isConnected { return connection }
        close()
        let fresh = try PostgresConnection.connect(url, logger: logger)
        try prepare(fresh)
        connection = fresh
        return fresh
    }
}
