import ClickLog
import CoreMetrics
import Foundation
import Kafka
import Logging
import Postgres
import Synchronization

/// The consume → validate → write loop of one ingest process.
///
/// Everything except ``requestStop()`` runs on one dedicated thread (blocking librdkafka and libpq calls never
/// touch Swift's cooperative pool). The Kafka rebalance callbacks run inside `pollBatch` on that same thread,
/// so the loop state below is confined to it.
///
/// Exactly-once: the next offset of every partition is stored in `ingest_offsets` in the same transaction as
/// the rows its messages produced. Each transaction first locks those offset rows and writes only messages at or
/// after the stored offset, so a retried commit whose first attempt did land, or a consumer that lost its
/// partitions without noticing, can never write a message twice.
final class IngestWorker: @unchecked Sendable {  // state confined to the ingest thread; `stopRequested` is a Mutex
    private let configuration: IngestConfiguration
    private let kafka: KafkaConfig
    private let databaseURL: String
    private let logger: Logger
    private let metrics = IngestMetrics()
    private let store: IngestStore
    private let parser: ClickLogParser
    private let onProgress: (@Sendable (IngestProgress) -> Void)?
    private let stopRequested = Mutex(false)

    // MARK: Thread-confined state
    private var connection: PostgresConnection?
    private var consumer: KafkaConsumer?
    /// Next offset to ingest for every partition this process owns (what `ingest_offsets` says after our commits).
    private var positions: [TopicPartition: Int64] = [:]
    /// Messages polled but not yet committed.
    private var pending: [ConsumerRecord] = []
    private var progress = IngestProgress()
    private var lastActivity = ContinuousClock.now
    private var hasBeenAssigned = false
    private var lastLagRefresh = ContinuousClock.now
    private var stopDeadline: ContinuousClock.Instant?

    init(
        configuration: IngestConfiguration, kafka: KafkaConfig, databaseURL: String, logger: Logger,
        onProgress: (@Sendable (IngestProgress) -> Void)?
    ) {
        self.configuration = configuration
        self.kafka = kafka
        self.databaseURL = databaseURL
        self.logger = logger
        self.store = IngestStore(groupID: configuration.groupID)
        self.parser = ClickLogParser(limits: configuration.parserLimits)
        self.onProgress = onProgress
    }

    /// Asks the loop to finish the batch in flight, leave the group and return. Safe from any thread.
    func requestStop() {
        stopRequested.withLock { $0 = true }
    }

    private var isStopping: Bool { stopRequested.withLock { $0 } }

    /// Runs the loop on a new thread and resumes when it ends.
    func runOnDedicatedThread() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                do {
                    try self.run()
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "amc-ingest"
            thread.start()
        }
    }

    // MARK: - The loop

    func run() throws {
        defer {
            consumer?.close()
            consumer = nil
            connection?.close()
            connection = nil
        }
        try withDatabaseRetry { _ in }
        logger.info(
            "ingest starting",
            metadata: [
                "ingest.group": "\(configuration.groupID)", "ingest.topics": "\(configuration.topics.joined(separator: ","))",
            ])
        while true {
            if consumer == nil { consumer = try makeConsumer() }
            try accumulateBatch()
            if !pending.isEmpty {
                let batch = pending
                pending.removeAll(keepingCapacity: true)
                try commit(batch[...])
                lastActivity = .now
            } else if isStopping {
                break
            } else if let idle = configuration.untilIdle, hasBeenAssigned, ContinuousClock.now - lastActivity >= idle {
                logger.info("ingest idle, stopping", metadata: ["ingest.idle_seconds": "\(idle)"])
                break
            }
            refreshLagIfDue()
        }
        logger.info(
            "ingest stopped",
            metadata: ["ingest.events": "\(progress.events)", "ingest.dead_letters": "\(progress.deadLetters)"])
    }

    private func makeConsumer() throws -> KafkaConsumer {
        try KafkaConsumer(
            config: kafka, groupID: configuration.groupID, topics: configuration.topics, logger: logger,
            onAssign: { [unowned self] partitions in try self.assign(partitions) },
            onRevoke: { [unowned self] partitions in self.revoke(partitions) })
    }

    /// Polls until the batch is full, its oldest message has waited `batchMaxLatency`, or nothing arrives.
    private func accumulateBatch() throws {
        guard let consumer else { return }
        var deadline: ContinuousClock.Instant?
        while pending.count < configuration.batchMaxRecords {
            let timeout: Duration
            if let deadline {
                timeout = deadline - .now
                if timeout <= .zero { break }
            } else {
                timeout = .milliseconds(100)
            }
            let batch = try consumer.pollBatch(
                maxRecords: configuration.batchMaxRecords - pending.count, timeout: timeout)
            for error in batch.errors {
                metrics.kafkaErrors.increment()
                logger.warning("kafka consumer error", metadata: ["kafka.error": "\(error)"])
            }
            for record in batch.records {
                let partition = TopicPartition(topic: record.topic, partition: record.partition)
                guard let position = positions[partition], record.offset >= position else { continue }
                pending.append(record)
            }
            if pending.isEmpty || isStopping { break }
            if deadline == nil {
                deadline = .now + configuration.batchMaxLatency
                lastActivity = .now
            }
        }
    }

    // MARK: - Rebalance callbacks (on the ingest thread, inside pollBatch)

    /// Starts each assigned partition at the offset stored in PostgreSQL, recording as lost any range the
    /// broker no longer has.
    private func assign(_ partitions: [TopicPartition]) throws -> [TopicPartition: KafkaOffset] {
        hasBeenAssigned = true
        lastActivity = .now
        guard !partitions.isEmpty else { return [:] }
        var logStarts: [TopicPartition: Int64] = [:]
        for partition in partitions {
            do {
                logStarts[partition] = try consumer?.watermarks(for: partition, timeout: .seconds(5)).low
            } catch {
                // Not fatal: a start past the stored offset is still caught when the first message arrives.
                logger.warning("watermark query failed", metadata: ["kafka.partition": "\(partition)", "kafka.error": "\(error)"])
            }
        }
        let starts = try withDatabaseRetry { connection in
            try connection.transaction { connection in
                let stored = try store.lockOffsets(partitions, connection)
                var starts: [TopicPartition: Int64] = [:]
                for partition in partitions {
                    var start = stored[partition] ?? 0
                    if let low = logStarts[partition], low > start {
                        try store.recordGap(
                            OffsetGap(partition: partition, from: start, to: low, reason: "log_start_moved"), connection)
                        start = low
                    }
                    if stored[partition] != start { try store.storeOffset(partition, next: start, connection) }
                    starts[partition] = start
                }
                return starts
            }
        }
        for (partition, start) in starts {
            positions[partition] = start
        }
        logger.info("partitions assigned", metadata: ["kafka.partitions": "\(starts.sorted { "\($0.key)" < "\($1.key)" }.map { "\($0.key)@\($0.value)" })"])
        return starts.mapValues { .absolute($0) }
    }

    /// Forgets revoked partitions; their uncommitted messages are dropped (the next owner re-reads them from the
    /// stored offsets).
    private func revoke(_ partitions: [TopicPartition]) {
        lastActivity = .now
        let revoked = Set(partitions)
        for partition in revoked { positions[partition] = nil }
        pending.removeAll { revoked.contains(TopicPartition(topic: $0.topic, partition: $0.partition)) }
        logger.info("partitions revoked", metadata: ["kafka.partitions": "\(partitions.map(\.description))"])
    }

    // MARK: - Committing

    fileprivate enum Parsed {
        case event(PositionedEvent)
        case invalid(DeadLetter)
    }

    private func parse(_ record: ConsumerRecord) -> Parsed {
        switch parser.parse(record.value) {
        case .success(let event):
            let micros =
                event.timestampMicros ?? record.timestampMilliseconds.map { $0 * 1000 }
                ?? Int64(Date().timeIntervalSince1970 * 1_000_000)
            return .event(PositionedEvent(record: record, event: event, timeMicros: micros))
        case .failure(let error):
            return .invalid(DeadLetter(record: record, reasonCode: error.reason.rawValue, reason: error.description))
        }
    }

    /// Commits `records` in one transaction, retrying transient failures. A permanent data error (SQLSTATE class
    /// 22, 23 or 54) splits the batch until the message the database refuses is alone; that one is dead-lettered.
    private func commit(_ records: ArraySlice<ConsumerRecord>) throws {
        let started = ContinuousClock.now
        let parsed = records.map(parse)
        let result: CommitResult
        do {
            result = try withDatabaseRetry { connection in
                try connection.transaction { connection in try self.write(parsed, connection) }
            }
        } catch let error as PostgresError where error.isDataError {
            guard records.count > 1 else {
                try commitRejected(records.first!, error)
                return
            }
            logger.warning("batch refused by the database, splitting", metadata: ["postgres.error": "\(error)", "ingest.batch_size": "\(records.count)"])
            let middle = records.startIndex + records.count / 2
            try commit(records[..<middle])
            try commit(records[middle...])
            return
        }
        finish(result, started: started, count: records.count, timestamps: records.compactMap(\.timestampMilliseconds))
    }

    private struct CommitResult {
        var events = 0
        var deadLetters = 0
        var gaps: [OffsetGap] = []
        var nextOffsets: [TopicPartition: Int64] = [:]
        var rewound: [TopicPartition: Int64] = [:]
    }

    /// Inside the transaction: lock the offsets, keep what is at or after them, write.
    private func write(_ parsed: [Parsed], _ connection: PostgresConnection) throws -> CommitResult {
        var partitions = Set<TopicPartition>()
        for item in parsed { partitions.insert(item.record.topicPartition) }
        let stored = try store.lockOffsets(partitions, connection)
        var cursors: [TopicPartition: Int64] = [:]
        var result = CommitResult()
        for partition in partitions {
            guard let position = positions[partition] else { continue }
            let storedNext = stored[partition] ?? position
            if storedNext < position {
                // Someone moved the offset back (an operator replay): re-read from there on a fresh assignment.
                result.rewound[partition] = storedNext
            } else {
                cursors[partition] = storedNext
            }
        }
        var write = IngestWrite()
        for item in parsed {
            let record = item.record
            let partition = record.topicPartition
            guard let cursor = cursors[partition], record.offset >= cursor else { continue }
            if record.offset > cursor {
                write.gaps.append(OffsetGap(partition: partition, from: cursor, to: record.offset, reason: "offset_jump"))
            }
            switch item {
            case .event(let positioned):
                write.events.append(positioned)
                write.pairs.add(positioned.event, at: positioned.timeMicros)
            case .invalid(let letter):
                write.deadLetters.append(letter)
            }
            cursors[partition] = record.offset + 1
        }
        for (partition, next) in cursors where next != stored[partition] {
            write.nextOffsets[partition] = next
        }
        try store.write(write, connection)
        result.events = write.events.count
        result.deadLetters = write.deadLetters.count
        result.gaps = write.gaps
        result.nextOffsets = write.nextOffsets
        return result
    }

    /// Dead-letters one message the database refused (after splitting isolated it), advancing its offset.
    private func commitRejected(_ record: ConsumerRecord, _ refusal: PostgresError) throws {
        let letter = DeadLetter(record: record, reasonCode: "rejected_by_database", reason: "rejected by the database: \(refusal)")
        let partition = record.topicPartition
        let result = try withDatabaseRetry { connection in
            try connection.transaction { connection -> CommitResult in
                var result = CommitResult()
                let stored = try store.lockOffsets([partition], connection)
                guard let position = positions[partition], (stored[partition] ?? position) == record.offset else {
                    return result
                }
                var write = IngestWrite()
                write.deadLetters = [letter]
                write.nextOffsets[partition] = record.offset + 1
                try store.write(write, connection)
                result.deadLetters = 1
                result.nextOffsets = write.nextOffsets
                return result
            }
        }
        logger.error("message refused by the database", metadata: ["kafka.partition": "\(partition)", "kafka.offset": "\(record.offset)", "postgres.error": "\(refusal)"])
        finish(result, started: .now, count: 1)
    }

    private func finish(
        _ result: CommitResult, started: ContinuousClock.Instant, count: Int, timestamps: [Int64] = []
    ) {
        for (partition, next) in result.nextOffsets where positions[partition] != nil {
            positions[partition] = next
        }
        for gap in result.gaps {
            metrics.gaps.increment()
            metrics.lostOffsets.increment(by: Int(gap.to - gap.from))
            logger.error(
                "offsets lost before ingest",
                metadata: [
                    "kafka.partition": "\(gap.partition)", "ingest.gap.from": "\(gap.from)", "ingest.gap.to": "\(gap.to)",
                    "ingest.gap.reason": "\(gap.reason)",
                ])
        }
        if !result.rewound.isEmpty {
            logger.warning("stored offsets moved back, rejoining to re-read", metadata: ["kafka.partitions": "\(result.rewound.keys.map(\.description))"])
            consumer?.close()
            consumer = nil
            positions.removeAll()
            pending.removeAll()
        }
        if !result.nextOffsets.isEmpty { consumer?.commitAsync(result.nextOffsets) }
        metrics.events.increment(by: result.events)
        metrics.deadLetters.increment(by: result.deadLetters)
        metrics.batches.increment()
        metrics.batchSize.record(count)
        metrics.batchDuration.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
        progress.events += result.events
        progress.deadLetters += result.deadLetters
        progress.gaps += result.gaps.count
        progress.batches += 1
        if let onProgress {
            progress.lastBatchMessageTimestamps = timestamps
            onProgress(progress)
            progress.lastBatchMessageTimestamps = []
        }
    }

    // MARK: - Database access with retry

    /// Runs `body` on the connection, reconnecting and retrying transient failures with exponential backoff.
    /// Gives up when a stop was requested and the grace period has passed.
    private func withDatabaseRetry<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        var backoff = configuration.retryInitialBackoff
        while true {
            do {
                let connection = try currentConnection()
                return try body(connection)
            } catch let error as PostgresError where error.isTransient {
                if isStopping {
                    let deadline = stopDeadline ?? (.now + configuration.shutdownGracePeriod)
                    stopDeadline = deadline
                    if ContinuousClock.now >= deadline { throw error }
                }
                progress.retries += 1
                metrics.retries.increment()
                logger.warning("database unavailable, retrying", metadata: ["postgres.error": "\(error)", "retry.backoff": "\(backoff)"])
                if connection?.isConnected != true {
                    connection?.close()
                    connection = nil
                }
                Thread.sleep(forTimeInterval: backoff.seconds)
                backoff = min(backoff * 2, configuration.retryMaxBackoff)
            }
        }
    }

    private func currentConnection() throws -> PostgresConnection {
        if let connection, connection.isConnected { return connection }
        connection?.close()
        connection = nil
        let fresh = try PostgresConnection.connect(databaseURL, logger: logger)
        try store.prepare(fresh)
        connection = fresh
        return fresh
    }

    // MARK: - Lag

    private func refreshLagIfDue() {
        guard let consumer, ContinuousClock.now - lastLagRefresh >= configuration.lagRefreshInterval else { return }
        lastLagRefresh = .now
        for (partition, position) in positions {
            if let high = try? consumer.watermarks(for: partition, timeout: .seconds(1)).high {
                metrics.lag(partition).record(max(0, high - position))
            }
        }
    }
}

extension ConsumerRecord {
    var topicPartition: TopicPartition { TopicPartition(topic: topic, partition: partition) }
}

extension IngestWorker.Parsed {
    fileprivate var record: ConsumerRecord {
        switch self {
        case .event(let positioned): positioned.record
        case .invalid(let letter): letter.record
        }
    }
}

extension PostgresError {
    /// A refusal caused by the data itself (SQLSTATE class 22 data exception, 23 integrity violation, 54 limit
    /// exceeded), as opposed to schema, permission or availability problems that no amount of splitting fixes.
    var isDataError: Bool {
        guard let state = sqlState?.rawValue else { return false }
        return state.hasPrefix("22") || state.hasPrefix("23") || state.hasPrefix("54")
    }
}

extension Duration {
    /// The duration in whole nanoseconds.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// The duration in seconds, as a `TimeInterval`.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
