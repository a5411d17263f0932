import ClickLog
import Foundation
import Kafka
import Logging
import Postgres

/// A batch handed from the consumer thread to the writer thread.
struct IngestBatch: Sendable {
    var messages: [ParsedMessage]
    /// The consumer's next offsets when the batch was handed off (may trail the stored ones by the batch in
    /// flight before it; the transaction only trusts the stored offsets it locks).
    var positions: [TopicPartition: Int64]
    var handedOffAt: ContinuousClock.Instant
}

/// What one committed transaction did, for the consumer thread to apply.
struct CommitResult: Sendable {
    var messages = 0
    var events = 0
    var deadLetters = 0
    /// Messages skipped because their position was already stored (a re-read after an offset moved back).
    var alreadyStored = 0
    var gaps: [OffsetGap] = []
    var nextOffsets: [TopicPartition: Int64] = [:]
    /// Partitions whose stored offset moved back (an operator replay): the consumer must rejoin to re-read.
    var rewound: [TopicPartition: Int64] = [:]
    var messageTimestamps: [Int64] = []
    var handedOffAt: ContinuousClock.Instant = .now
    /// Wall-clock time of the commit, milliseconds since the epoch.
    var committedAtMillis: Int64 = 0
}

/// The writer thread: commits one batch at a time in its own transaction while the consumer thread polls and
/// parses the next (so the client's work overlaps the database's).
///
/// Exactly-once: each transaction first locks the partitions' rows in `ingest_offsets` and writes only
/// messages at or after the stored offsets, so a retried commit whose first attempt landed, or a consumer
/// that lost its partitions without noticing, never writes a message twice. When an operator moved a stored
/// offset back over messages already stored (a replay from an offset), the batch collides with `click_events`'
/// key; it is then committed again without the positions already stored (events or dead letters), which are
/// counted and skipped, so a replay lands exactly what is missing.
///
/// `@unchecked Sendable`: the hand-off state is guarded by `condition`; `session` is used only on the writer thread.
final class BatchWriter: @unchecked Sendable {
    private let condition = NSCondition()
    private var job: IngestBatch?
    private var outcome: Result<[CommitResult], any Error>?
    private var busy = false
    private var stopped = false

    private let session: DatabaseSession
    private let store: IngestStore
    private let logger: Logger

    init(session: DatabaseSession, store: IngestStore, logger: Logger) {
        self.session = session
        self.store = store
        self.logger = logger
    }

    /// Starts the writer thread.
    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "amc-ingest-writer"
        thread.start()
    }

    /// Hands a batch to the writer. Call ``awaitOutcome()`` for the previous batch first.
    func submit(_ batch: IngestBatch) {
        condition.lock()
        precondition(!busy, "a batch is already in flight")
        job = batch
        busy = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits for the batch in flight, if any, and returns what it did (nil when nothing was in flight).
    func awaitOutcome() -> Result<[CommitResult], any Error>? {
        condition.lock()
        defer { condition.unlock() }
        while busy { condition.wait() }
        defer { outcome = nil }
        return outcome
    }

    /// Whether a batch is in flight (does not wait).
    var isBusy: Bool {
        condition.lock()
        defer { condition.unlock() }
        return busy
    }

    /// Ends the writer thread once it is idle.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while job == nil && !stopped { condition.wait() }
            guard let batch = job else {
                condition.unlock()
                session.close()
                return
            }
            job = nil
            condition.unlock()

            let result = Result { try commit(batch.messages[...], positions: batch.positions, batch: batch) }

            condition.lock()
            outcome = result
            busy = false
            condition.broadcast()
            condition.unlock()
        }
    }

    // MARK: - Committing

    /// Commits `messages` in one transaction, retrying transient failures. A permanent data error (SQLSTATE
    /// class 22, 23 or 54) splits the batch until the message the database refuses is alone; that one is
    /// dead-lettered with the database's reason. Other permanent errors (schema, permissions) are rethrown.
    private func commit(
        _ messages: ArraySlice<ParsedMessage>,
        positions: [TopicPartition: Int64],
        batch: IngestBatch,
        skippingStored: Bool = false
    ) throws -> [CommitResult] {
        do {
            var result = try session.withRetry { connection in
                try connection.transaction { connection in
                    try self.write(messages, positions, skippingStored: skippingStored, connection)
                }
            }
            result.messageTimestamps = messages.compactMap(\.record.timestampMilliseconds)
            result.handedOffAt = batch.handedOffAt
            result.committedAtMillis = Int64(Date().timeIntervalSince1970 * 1000)
            return [result]
        } catch let error as PostgresError where error.isStoredPositionCollision && !skippingStored {
            logger.notice(
                "batch has messages already stored (re-read after an offset moved back); skipping them",
                metadata: ["ingest.batch_size": "\(messages.count)"]
            )
            return try commit(messages, positions: positions, batch: batch, skippingStored: true)
        } catch let error as PostgresError where error.isDataError {
            guard messages.count > 1 else {
                return [try commitRejected(messages.first!.record, error, batch: batch)]
            }
            logger.warning(
                "batch refused by the database, splitting",
                metadata: ["postgres.error": "\(error)", "ingest.batch_size": "\(messages.count)"]
            )
            let middle = messages.startIndex + messages.count / 2
            return try commit(messages[..<middle], positions: positions, batch: batch, skippingStored: skippingStored)
                + commit(messages[middle...], positions: positions, batch: batch, skippingStored: skippingStored)
        }
    }

    /// Inside the transaction: lock the offsets, keep what is at or after them, write.
    private func write(
        _ messages: ArraySlice<ParsedMessage>,
        _ positions: [TopicPartition: Int64],
        skippingStored: Bool,
        _ connection: PostgresConnection
    ) throws -> CommitResult {
        var partitions = Set<TopicPartition>()
        for message in messages { partitions.insert(message.record.topicPartition) }
        let stored = try store.lockOffsets(partitions, connection)
        var cursors: [TopicPartition: Int64] = [:]
        var result = CommitResult(messages: messages.count)
        for partition in partitions {
            guard let position = positions[partition] else { continue }
            let storedNext = stored[partition] ?? position
            if storedNext < position {
                result.rewound[partition] = storedNext
            } else {
                cursors[partition] = storedNext
            }
        }
        var write = IngestWrite()
        for message in messages {
            let record = message.record
            let partition = record.topicPartition
            guard let cursor = cursors[partition], record.offset >= cursor else { continue }
            if record.offset > cursor {
                write.gaps.append(
                    OffsetGap(partition: partition, from: cursor, to: record.offset, reason: "offset_jump")
                )
            }
            switch message {
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
        if skippingStored {
            result.alreadyStored = try skipStored(&write, connection)
        }
        try store.write(write, connection)
        result.events = write.events.count
        result.deadLetters = write.deadLetters.count
        result.gaps = write.gaps
        result.nextOffsets = write.nextOffsets
        return result
    }

    /// Removes from `write` the events and dead letters whose positions are already stored, and recounts the pair
    /// deltas from the events that remain.
    /// - Returns: How many were removed.
    private func skipStored(_ write: inout IngestWrite, _ connection: PostgresConnection) throws -> Int {
        let events = try store.events.storedPositions(
            write.events.map { EventPosition($0.record) },
            in: .events,
            connection
        )
        let letters = try store.events.storedPositions(
            write.deadLetters.map { EventPosition($0.record) },
            in: .deadLetters,
            connection
        )
        guard !events.isEmpty || !letters.isEmpty else { return 0 }
        write.events.removeAll { events.contains(EventPosition($0.record)) }
        write.deadLetters.removeAll { letters.contains(EventPosition($0.record)) }
        write.pairs = PairAggregator()
        for positioned in write.events { write.pairs.add(positioned.event, at: positioned.timeMicros) }
        return events.count + letters.count
    }

    /// Dead-letters one message the database refused (after splitting isolated it), advancing its offset.
    private func commitRejected(
        _ record: ConsumerRecord,
        _ refusal: PostgresError,
        batch: IngestBatch
    ) throws -> CommitResult {
        let partition = record.topicPartition
        let letter = DeadLetter(
            record: record,
            reasonCode: "rejected_by_database",
            reason: "rejected by the database: \(refusal)"
        )
        logger.error(
            "message refused by the database",
            metadata: [
                "kafka.partition": "\(partition)", "kafka.offset": "\(record.offset)", "postgres.error": "\(refusal)",
            ]
        )
        return try session.withRetry { connection in
            try connection.transaction { connection -> CommitResult in
                var result = CommitResult(messages: 1, handedOffAt: batch.handedOffAt)
                let stored = try store.lockOffsets([partition], connection)
                guard let position = batch.positions[partition], (stored[partition] ?? position) == record.offset else {
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
    }
}

extension PostgresError {
    /// A unique violation on a stored position (`click_events` or `dead_letters` key): the batch re-reads
    /// messages that are already stored.
    var isStoredPositionCollision: Bool {
        sqlState?.rawValue == "23505"
            && (message.contains("\"click_events") || message.contains("\"dead_letters_topic_partition_offset"))
    }

    /// A refusal caused by the data itself (SQLSTATE class 22 data exception, 23 integrity violation, 54 limit
    /// exceeded), as opposed to schema, permission or availability problems that no amount of splitting fixes.
    var isDataError: Bool {
        guard let state = sqlState?.rawValue else { return false }
        return state.hasPrefix("22") || state.hasPrefix("23") || state.hasPrefix("54")
    }
}
