import ClickLog
import CoreMetrics
import Foundation
import Kafka
import Logging
import Postgres
import Synchronization

/// The consume → validate → write loop of one ingest process.
///
/// Two threads, neither of them Swift's cooperative pool (librdkafka and libpq block):
/// - the *consumer thread* (this type) polls Kafka, parses and validates messages, and runs the rebalance
///   callbacks (they are called inside `pollBatch`, so the state below is confined to it);
/// - the *writer thread* (``BatchWriter``) commits one batch at a time while the consumer thread prepares the
///   next one.
/// Before a rebalance changes the partitions, and before each hand-off, the consumer thread waits for the batch
/// in flight and applies its outcome, so the two never disagree about offsets for longer than one batch — and
/// the transaction trusts only the offsets it locks in PostgreSQL anyway.
final class IngestWorker: @unchecked Sendable {  // state confined to the consumer thread, except `signals`
    private let configuration: IngestConfiguration
    private let kafka: KafkaConfig
    private let logger: Logger
    private let metrics = IngestMetrics()
    private let store: IngestStore
    private let parser: ClickLogParser
    private let onProgress: (@Sendable (IngestProgress) -> Void)?
    private let signals = Signals()
    private let writer: BatchWriter
    private let control: DatabaseSession

    // MARK: Consumer-thread state
    private var consumer: KafkaConsumer?
    /// Next offset to ingest for every partition this process owns, as of the last applied commit.
    private var positions: [TopicPartition: Int64] = [:]
    /// Messages polled but not yet handed to the writer.
    private var pending: [ConsumerRecord] = []
    private var progress = IngestProgress()
    private var lastActivity = ContinuousClock.now
    private var hasBeenAssigned = false
    private var lastLagRefresh = ContinuousClock.now
    /// Set when stored offsets moved back under us: the consumer is recreated to re-read from them.
    private var needsRejoin = false
    /// A writer failure seen inside a rebalance callback, rethrown by the loop.
    private var deferredError: (any Error)?
    /// Since when the group has left this process without an assignment: set when a consumer is created and
    /// when partitions are revoked, cleared by the next assignment (even of no partitions: the group formed).
    private var awaitingAssignmentSince: ContinuousClock.Instant?
    /// Whether this wait was already warned about, and how many timeout periods were reported.
    private var assignmentWarned = false
    private var assignmentTimeoutsReported = 0
    /// The latest error the Kafka client reported (a refused JoinGroup lands here), quoted while waiting.
    private var lastKafkaError: KafkaError?

    init(
        configuration: IngestConfiguration,
        kafka: KafkaConfig,
        databaseURL: DatabaseURL,
        logger: Logger,
        onProgress: (@Sendable (IngestProgress) -> Void)?
    ) {
        self.configuration = configuration
        self.kafka = kafka
        self.logger = logger
        self.store = IngestStore(groupID: configuration.groupID)
        self.parser = ClickLogParser(limits: configuration.parserLimits)
        self.onProgress = onProgress
        let (store, metrics, signals) = (store, metrics, signals)
        func session(preparing: Bool) -> DatabaseSession {
            DatabaseSession(
                url: databaseURL,
                configuration: configuration,
                logger: logger,
                metrics: metrics,
                prepare: { connection in if preparing { try store.prepare(connection) } },
                isStopping: { signals.stopRequested.withLock { $0 } },
                onRetry: { signals.retries.withLock { $0 += 1 } }
            )
        }
        self.control = session(preparing: false)
        self.writer = BatchWriter(session: session(preparing: true), store: store, logger: logger)
    }

    /// Asks the loop to finish the batch in flight, leave the group and return. Safe from any thread.
    func requestStop() {
        signals.stopRequested.withLock { $0 = true }
    }

    private var isStopping: Bool { signals.stopRequested.withLock { $0 } }

    /// Runs the loop on a new thread and resumes when it ends.
    func runOnDedicatedThread() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                continuation.resume(with: Result { try self.run() })
            }
            thread.name = "amc-ingest"
            thread.start()
        }
    }

    // MARK: - The loop

    func run() throws {
        writer.start()
        defer {
            writer.stop()
            consumer?.close()
            consumer = nil
            control.close()
        }
        try control.withRetry { _ in }
        logger.info(
            "ingest starting",
            metadata: [
                "ingest.group": "\(configuration.groupID)",
                "ingest.topics": "\(configuration.topics.joined(separator: ","))",
            ]
        )
        while !isStopping {
            if let error = deferredError { throw error }
            if needsRejoin { rejoin() }
            if consumer == nil {
                consumer = try makeConsumer()
                startAwaitingAssignment()
            }
            try accumulateBatch()
            try checkAssignment()
            if !pending.isEmpty {
                let receivedAtMicros = Int64(Date().timeIntervalSince1970 * 1_000_000)
                let messages = pending.map { parser.parse($0, receivedAtMicros: receivedAtMicros) }
                let handedOffAt = ContinuousClock.now
                pending.removeAll(keepingCapacity: true)
                try applyWriterOutcome()
                if needsRejoin { continue }  // offsets moved back: these messages are re-read after rejoining
                writer.submit(IngestBatch(messages: messages, positions: positions, handedOffAt: handedOffAt))
                lastActivity = .now
            } else if !isStopping {
                // Nothing new to poll: report the batch in flight as soon as it is committed.
                try applyWriterOutcome()
                if let idle = configuration.untilIdle, hasBeenAssigned, ContinuousClock.now - lastActivity >= idle {
                    logger.info("ingest idle, stopping", metadata: ["ingest.idle_seconds": "\(idle)"])
                    break
                }
            }
            refreshLagIfDue()
        }
        try applyWriterOutcome()
        if let error = deferredError { throw error }
        logger.info(
            "ingest stopped",
            metadata: ["ingest.events": "\(progress.events)", "ingest.dead_letters": "\(progress.deadLetters)"]
        )
    }

    /// Consumer settings ingest relies on, under any the operator passes in ``KafkaConfig/properties``:
    /// a broker holds a fetch at most 100 ms when it has nothing new (the default 500 ms would dominate
    /// click-to-visible latency at low traffic), and reconnects back off to at most 2 s (not 10 s) so ingest
    /// resumes quickly after a broker restart.
    static let consumerDefaults = ["fetch.wait.max.ms": "100", "reconnect.backoff.max.ms": "2000"]

    private func makeConsumer() throws -> KafkaConsumer {
        var kafka = kafka
        kafka.properties.merge(Self.consumerDefaults) { chosen, _ in chosen }
        if let instanceID = configuration.instanceID {
            kafka.properties["group.instance.id"] = instanceID
        }
        return try KafkaConsumer(
            config: kafka,
            groupID: configuration.groupID,
            topics: configuration.topics,
            logger: logger,
            onAssign: { [unowned self] partitions in try self.assign(partitions) },
            onRevoke: { [unowned self] partitions in self.revoke(partitions) }
        )
    }

    private func rejoin() {
        logger.warning("stored offsets moved back, rejoining to re-read from them")
        consumer?.close()
        consumer = nil
        positions.removeAll()
        pending.removeAll()
        needsRejoin = false
    }

    /// Polls until the batch is full, or its oldest message has waited `batchMaxLatency` and the writer is free
    /// to take it, or nothing arrives. While the writer is still busy the batch keeps growing (up to
    /// `batchMaxRecords`), so under a backlog transactions get larger and fold more clicks into each pair update.
    private func accumulateBatch() throws {
        guard let consumer else { return }
        var deadline: ContinuousClock.Instant?
        while pending.count < configuration.batchMaxRecords {
            let timeout: Duration
            if let deadline {
                timeout = deadline - .now
                if timeout <= .zero {
                    if !writer.isBusy { break }
                }
            } else {
                timeout = .milliseconds(100)
            }
            let batch = try consumer.pollBatch(
                maxRecords: configuration.batchMaxRecords - pending.count,
                timeout: max(timeout, .milliseconds(5))
            )
            for error in batch.errors {
                // A broker fault is not "idle": the topic may still hold clicks we cannot see yet.
                lastActivity = .now
                metrics.kafkaErrors.increment()
                lastKafkaError = error
                logger.warning("kafka consumer error", metadata: ["kafka.error": "\(error)"])
            }
            for record in batch.records {
                guard let position = positions[record.topicPartition], record.offset >= position else { continue }
                pending.append(record)
            }
            if pending.isEmpty || isStopping { break }
            if deadline == nil {
                deadline = .now + configuration.batchMaxLatency
                lastActivity = .now
            }
        }
    }

    // MARK: - Rebalance callbacks (on the consumer thread, inside pollBatch)

    /// Starts each assigned partition at the offset stored in PostgreSQL, recording as lost any range the
    /// broker no longer has.
    private func assign(_ partitions: [TopicPartition]) throws -> [TopicPartition: KafkaOffset] {
        try applyWriterOutcome()
        hasBeenAssigned = true
        lastActivity = .now
        endAwaitingAssignment()
        guard !partitions.isEmpty else {
            logger.info(
                "consumer group formed without partitions for this process",
                metadata: ["ingest.group": "\(configuration.groupID)"]
            )
            return [:]
        }
        var logStarts: [TopicPartition: Int64] = [:]
        for partition in partitions {
            do {
                logStarts[partition] = try consumer?.watermarks(for: partition, timeout: .seconds(5)).low
            } catch {
                // Not fatal: a start past the stored offset is still caught when the first message arrives.
                logger.warning(
                    "watermark query failed",
                    metadata: ["kafka.partition": "\(partition)", "kafka.error": "\(error)"]
                )
            }
        }
        let store = store
        let (starts, gaps) = try control.withRetry { connection in
            try connection.transaction { connection in
                let stored = try store.lockOffsets(partitions, connection)
                var starts: [TopicPartition: Int64] = [:]
                var gaps: [OffsetGap] = []
                for partition in partitions {
                    var start = stored[partition] ?? 0
                    if let low = logStarts[partition], low > start {
                        let gap = OffsetGap(partition: partition, from: start, to: low, reason: "log_start_moved")
                        try store.recordGap(gap, connection)
                        gaps.append(gap)
                        start = low
                    }
                    if stored[partition] != start { try store.storeOffset(partition, next: start, connection) }
                    starts[partition] = start
                }
                return (starts, gaps)
            }
        }
        for (partition, start) in starts { positions[partition] = start }
        metrics.assignedPartitions.record(positions.count)
        record(gaps)
        logger.info(
            "partitions assigned",
            metadata: [
                "kafka.partitions": "\(starts.sorted { "\($0.key)" < "\($1.key)" }.map { "\($0.key)@\($0.value)" })"
            ]
        )
        return starts.mapValues { .absolute($0) }
    }

    /// Waits for the batch in flight, then forgets revoked partitions; their messages not yet handed off are
    /// dropped (the next owner re-reads them from the stored offsets).
    private func revoke(_ partitions: [TopicPartition]) {
        do {
            try applyWriterOutcome()
        } catch {
            deferredError = error
        }
        lastActivity = .now
        let revoked = Set(partitions)
        for partition in revoked { positions[partition] = nil }
        pending.removeAll { revoked.contains($0.topicPartition) }
        metrics.assignedPartitions.record(positions.count)
        if positions.isEmpty { startAwaitingAssignment() }
        logger.info("partitions revoked", metadata: ["kafka.partitions": "\(partitions.map(\.description))"])
    }

    // MARK: - Waiting for an assignment

    /// Starts timing a wait for the group to assign this process its partitions.
    private func startAwaitingAssignment() {
        guard awaitingAssignmentSince == nil else { return }
        awaitingAssignmentSince = .now
        assignmentWarned = false
        assignmentTimeoutsReported = 0
        lastKafkaError = nil  // only errors reported during this wait explain it
        metrics.assignedPartitions.record(0)
    }

    /// The group assigned this process its partitions (perhaps none): the wait is over.
    private func endAwaitingAssignment() {
        if let since = awaitingAssignmentSince, assignmentWarned {
            logger.info(
                "partitions assigned after waiting",
                metadata: [
                    "ingest.group": "\(configuration.groupID)",
                    "ingest.waited_seconds": "\(Int((ContinuousClock.now - since).seconds))",
                ]
            )
        }
        awaitingAssignmentSince = nil
    }

    /// Warns once the wait for an assignment passes ``IngestConfiguration/assignmentWarning`` and logs an error
    /// at every ``IngestConfiguration/assignmentTimeout``; librdkafka retries refused JoinGroup, SyncGroup and
    /// FindCoordinator requests without reporting most of them, so without this the process would be silent.
    /// - Throws: ``IngestError`` at the first timeout when the run has `untilIdle` set (it cannot go idle
    ///   before it owns partitions, so it would otherwise wait forever).
    private func checkAssignment() throws {
        guard let since = awaitingAssignmentSince, !isStopping else { return }
        let waited = ContinuousClock.now - since
        let timeouts = Int(waited / configuration.assignmentTimeout)
        guard (!assignmentWarned && waited >= configuration.assignmentWarning) || timeouts > assignmentTimeoutsReported
        else { return }
        var metadata: Logger.Metadata = [
            "ingest.group": "\(configuration.groupID)",
            "ingest.topics": "\(configuration.topics.joined(separator: ","))",
            "ingest.waited_seconds": "\(Int(waited.seconds))",
        ]
        if let lastKafkaError { metadata["kafka.error"] = "\(lastKafkaError)" }
        if !assignmentWarned {
            assignmentWarned = true
            metrics.assignmentWarnings.increment()
            logger.warning(
                "no partitions assigned yet: the consumer group has not completed a rebalance",
                metadata: metadata
            )
        }
        guard timeouts > assignmentTimeoutsReported else { return }
        assignmentTimeoutsReported = timeouts
        metrics.assignmentTimeouts.increment()
        logger.error("no partitions assigned: the consumer group has not completed a rebalance", metadata: metadata)
        if configuration.untilIdle != nil {
            throw IngestError(assignmentFailure(waited: waited))
        }
    }

    /// The one line a run that gave up waiting for an assignment ends with.
    private func assignmentFailure(waited: Duration) -> String {
        var message =
            "no partitions were assigned to consumer group \(configuration.groupID) "
            + "(topics \(configuration.topics.joined(separator: ","))) in \(Int(waited.seconds)) s"
        if let lastKafkaError {
            message += "; last Kafka error: \(lastKafkaError.message)"
        } else {
            message +=
                "; the Kafka client reported no error (it retries refused group requests silently: "
                + "set the Kafka property debug=cgrp to see them)"
        }
        return message
    }

    // MARK: - Applying commits

    /// Waits for the writer's batch in flight (if any) and applies its outcome; rethrows its failure.
    private func applyWriterOutcome() throws {
        guard let outcome = writer.awaitOutcome() else { return }
        for result in try outcome.get() { apply(result) }
    }

    private func apply(_ result: CommitResult) {
        lastActivity = .now
        for (partition, next) in result.nextOffsets where positions[partition] != nil {
            positions[partition] = max(positions[partition] ?? next, next)
        }
        record(result.gaps)
        if !result.rewound.isEmpty { needsRejoin = true }
        if !result.nextOffsets.isEmpty { consumer?.commitAsync(result.nextOffsets) }
        metrics.events.increment(by: result.events)
        metrics.deadLetters.increment(by: result.deadLetters)
        metrics.alreadyStored.increment(by: result.alreadyStored)
        metrics.batches.increment()
        metrics.batchSize.record(result.messages)
        metrics.batchDuration.recordNanoseconds((ContinuousClock.now - result.handedOffAt).nanoseconds)
        progress.events += result.events
        progress.deadLetters += result.deadLetters
        progress.alreadyStored += result.alreadyStored
        progress.batches += 1
        progress.retries = signals.retries.withLock { $0 }
        if let onProgress {
            progress.lastBatchMessageTimestamps = result.messageTimestamps
            progress.lastBatchCommittedAt = result.committedAtMillis
            onProgress(progress)
            progress.lastBatchMessageTimestamps = []
        }
    }

    /// Logs, counts and reports offset ranges recorded as lost.
    private func record(_ gaps: [OffsetGap]) {
        for gap in gaps {
            metrics.gaps.increment()
            metrics.lostOffsets.increment(by: Int(gap.to - gap.from))
            logger.error(
                "offsets lost before ingest",
                metadata: [
                    "kafka.partition": "\(gap.partition)", "ingest.gap.from": "\(gap.from)",
                    "ingest.gap.to": "\(gap.to)", "ingest.gap.reason": "\(gap.reason)",
                ]
            )
        }
        progress.gaps += gaps.count
    }

    // MARK: - Lag

    private func refreshLagIfDue() {
        guard let consumer, ContinuousClock.now - lastLagRefresh >= configuration.lagRefreshInterval else { return }
        lastLagRefresh = .now
        for (partition, position) in positions {
            if let high = consumer.cachedWatermarks(for: partition)?.high {
                metrics.lag(partition).record(max(0, high - position))
            }
        }
    }
}

/// State both threads (and a stop request from any thread) touch.
private final class Signals: Sendable {
    let stopRequested = Mutex(false)
    let retries = Mutex(0)
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
