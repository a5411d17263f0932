import Foundation
import Logging
import Postgres
import Prometheus
import ServiceLifecycle

/// Records every ranking the scoring route returns, off the request path (see `Docs/online.md`).
///
/// The route hands each ``RankingRecord`` to ``submit(_:)``, which only appends it to a bounded in-memory queue
/// (a lock held for the append) and never waits: when the queue is full the record is dropped and counted
/// (`amc_serve_rankings_dropped_total`), so attribution can never slow down or fail a request. A `Service`: its
/// writer runs on a dedicated thread (libpq blocks) with its own PostgreSQL connection, takes whatever is queued (up
/// to ``ServingConfiguration/rankingBatchSize`` records) and writes it with one `COPY` into `rankings`; while a write
/// is in flight the next batch accumulates. A transient failure (connection lost, server restarting) keeps the
/// batch and retries it with backoff while new records queue up to the capacity; a batch the database refuses, or
/// that takes longer than 10 s (`statement_timeout`), is dropped and counted. On graceful shutdown (which reaches it
/// after the server has stopped) it refuses new records and flushes what is queued, giving up after
/// ``ServingConfiguration/rankingDrainTimeout``.
///
/// `@unchecked Sendable`: the queue and the stop flag are guarded by `condition`; the connection is used only on the
/// writer thread.
public final class RankingRecorder: Service, @unchecked Sendable {
    /// Longest a batch's `COPY` may take before the server cancels it.
    static let statementTimeoutSeconds = 10

    private let databaseURL: DatabaseURL
    private let configuration: ServingConfiguration
    private let metrics: ServingMetrics
    private let logger: Logger
    private let condition = NSCondition()
    private var queue: RankingQueue
    private var stopping = false
    private var drainDeadline: ContinuousClock.Instant?
    private var connection: PostgresConnection?

    /// - Parameters:
    ///   - databaseURL: PostgreSQL URL or conninfo of a migrated database (a login with `INSERT` on `rankings`).
    ///   - configuration: Queue capacity, batch size, drain timeout, reconnection delay.
    ///   - metrics: Where recorded, dropped, failed writes and the queue depth are counted.
    ///   - logger: Receives write failures (warning, error).
    public init(databaseURL: String, configuration: ServingConfiguration, metrics: ServingMetrics, logger: Logger) {
        self.databaseURL = DatabaseURL(databaseURL)
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        queue = RankingQueue(capacity: configuration.rankingQueueCapacity)
    }

    /// Queues `record` for writing, or drops it (counted) when the queue is full. Never waits for the database.
    /// - Returns: Whether it was queued.
    @discardableResult
    public func submit(_ record: RankingRecord) -> Bool {
        condition.lock()
        let queued = !stopping && queue.push(record)
        let depth = queue.count
        if queued { condition.signal() }
        condition.unlock()
        if queued {
            metrics.rankingQueueDepth.set(Double(depth))
        } else {
            metrics.rankingsDropped.increment()
        }
        return queued
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await runOnDedicatedThread()
            } onCancel: {
                self.stop(drain: false)
            }
        } onGracefulShutdown: {
            self.stop(drain: true)
        }
    }

    /// Ends the writer: with `drain`, after it wrote what is queued (or the drain timeout passed).
    private func stop(drain: Bool) {
        condition.lock()
        stopping = true
        drainDeadline = drain ? .now + configuration.rankingDrainTimeout : .now
        condition.broadcast()
        condition.unlock()
    }

    private func runOnDedicatedThread() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                self.writeUntilStopped()
                continuation.resume()
            }
            thread.name = "amc-serve-rankings"
            thread.start()
        }
    }

    // MARK: - The writer thread

    private func writeUntilStopped() {
        defer {
            connection?.close()
            connection = nil
        }
        while let batch = nextBatch() {
            write(batch)
        }
    }

    /// Waits for records and takes the next batch; nil once stopping and the queue is empty (or the drain is over,
    /// when what is left is counted as dropped).
    private func nextBatch() -> [RankingRecord]? {
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty && !stopping {
            _ = condition.wait(until: Date(timeIntervalSinceNow: 0.5))
        }
        if stopping, queue.isEmpty || pastDrainDeadline {
            let left = queue.take(upTo: queue.count)
            if !left.isEmpty { metrics.rankingsDropped.increment(by: Int64(left.count)) }
            metrics.rankingQueueDepth.set(Double(0))
            return nil
        }
        let batch = queue.take(upTo: configuration.rankingBatchSize)
        metrics.rankingQueueDepth.set(Double(queue.count))
        return batch
    }

    private var pastDrainDeadline: Bool { drainDeadline.map { ContinuousClock.now >= $0 } ?? false }

    /// Writes one batch: retries transient failures with backoff (until the drain deadline, when stopping), drops a
    /// batch the database refuses.
    private func write(_ batch: [RankingRecord]) {
        var delay = Duration.milliseconds(100)
        while true {
            do {
                let connection = try connected()
                try RankingStore(connection: connection).insert(batch)
                metrics.rankingsRecorded.increment(by: Int64(batch.count))
                return
            } catch {
                metrics.rankingWriteErrors.increment()
                let transient = (error as? PostgresError)?.isTransient ?? false
                let metadata: Logger.Metadata = [
                    ServingLoggingKeys.rankings: "\(batch.count)",
                    ServingLoggingKeys.reason: "\(error)",
                ]
                if !transient || (isStopping && pastDrainDeadlineLocked) {
                    metrics.rankingsDropped.increment(by: Int64(batch.count))
                    logger.error("Rankings could not be recorded and were dropped", metadata: metadata)
                    return
                }
                logger.warning("Recording rankings failed; retrying", metadata: metadata)
                connection?.close()
                connection = nil
                sleep(delay)
                delay = min(delay * 2, configuration.maxReconnectDelay)
            }
        }
    }

    private var isStopping: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping
    }

    private var pastDrainDeadlineLocked: Bool {
        condition.lock()
        defer { condition.unlock() }
        return pastDrainDeadline
    }

    /// Sleeps `duration`, or less once a stop past the drain deadline is requested.
    private func sleep(_ duration: Duration) {
        let until = ContinuousClock.now + duration
        while ContinuousClock.now < until, !(isStopping && pastDrainDeadlineLocked) {
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    private func connected() throws -> PostgresConnection {
        if let connection, connection.isConnected { return connection }
        connection?.close()
        connection = nil
        let opened = try PostgresConnection.connect(databaseURL, logger: logger)
        do {
            try opened.setApplicationName("amc serve rankings")
            // A write stuck behind a lock or an overloaded server is cancelled (its batch dropped, counted) rather
            // than holding the writer, and a graceful shutdown, indefinitely.
            try opened.execute(script: "SET statement_timeout = '\(Self.statementTimeoutSeconds)s'")
        } catch {
            opened.close()
            throw error
        }
        connection = opened
        return opened
    }
}
