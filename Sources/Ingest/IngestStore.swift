import ClickLog
import Kafka
import Postgres

/// A message that failed validation (or that the database refused), bound for `dead_letters`.
struct DeadLetter: Sendable {
    var record: ConsumerRecord
    var reasonCode: String
    var reason: String
}

/// A valid event with the Kafka position it came from.
struct PositionedEvent: Sendable {
    var record: ConsumerRecord
    var event: ClickEvent
    /// Event time: the event's own `ts`, else the Kafka message timestamp, else ingest time.
    var timeMicros: Int64
}

/// A range of offsets `[from, to)` that will never be ingested, and why.
struct OffsetGap: Sendable, Equatable {
    var partition: TopicPartition
    var from: Int64
    var to: Int64
    var reason: String
}

/// Everything one ingest transaction writes.
struct IngestWrite: Sendable {
    var events: [PositionedEvent] = []
    var deadLetters: [DeadLetter] = []
    var gaps: [OffsetGap] = []
    var pairs = PairAggregator()
    /// New next offset per partition written by this transaction.
    var nextOffsets: [TopicPartition: Int64] = [:]
}

/// The SQL of ingest: offsets, events, pairs, dead letters and gaps. Every statement binds its values.
struct IngestStore: Sendable {
    let groupID: String

    /// Lands valid events and their pair deltas (shared with dead-letter replay).
    let events = EventStore()

    /// Prepares session state a connection needs (the per-transaction staging table for pair deltas).
    func prepare(_ connection: PostgresConnection) throws {
        try events.prepare(connection)
    }

    /// Locks and returns the stored next offsets of `partitions` for this group (missing rows are absent).
    func lockOffsets(
        _ partitions: some Collection<TopicPartition>,
        _ connection: PostgresConnection
    ) throws
        -> [TopicPartition: Int64]
    {
        var stored: [TopicPartition: Int64] = [:]
        let byTopic = Dictionary(grouping: partitions, by: \.topic)
        for (topic, list) in byTopic.sorted(by: { $0.key < $1.key }) {
            let ids = "{" + list.map { String($0.partition) }.sorted().joined(separator: ",") + "}"
            let rows = try connection.query(
                """
                SELECT partition, next_offset FROM ingest_offsets
                WHERE group_id = \(groupID) AND topic = \(topic) AND partition = ANY(\(ids)::integer[])
                ORDER BY partition FOR UPDATE
                """
            )
            for row in rows {
                let partition = try row.decode(Int32.self, column: 0)
                stored[TopicPartition(topic: topic, partition: partition)] = try row.decode(Int64.self, column: 1)
            }
        }
        return stored
    }

    /// Inserts or moves the stored next offset of a partition.
    func storeOffset(_ partition: TopicPartition, next: Int64, _ connection: PostgresConnection) throws {
        try connection.execute(
            """
            INSERT INTO ingest_offsets (group_id, topic, partition, next_offset)
            VALUES (\(groupID), \(partition.topic), \(partition.partition), \(next))
            ON CONFLICT (group_id, topic, partition)
            DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()
            """
        )
    }

    /// Records offsets that will never be ingested.
    func recordGap(_ gap: OffsetGap, _ connection: PostgresConnection) throws {
        try connection.execute(
            """
            INSERT INTO ingest_gaps (group_id, topic, partition, from_offset, to_offset, reason)
            VALUES (\(groupID), \(gap.partition.topic), \(gap.partition.partition), \(gap.from), \(gap.to),
                    \(gap.reason))
            """
        )
    }

    /// Writes a batch's rows (inside the caller's transaction): events and pair deltas (``EventStore``), dead
    /// letters, gaps and offsets.
    func write(_ batch: IngestWrite, _ connection: PostgresConnection) throws {
        try events.write(batch.events, pairs: batch.pairs, connection)
        if !batch.deadLetters.isEmpty {
            _ = try connection.copyIn(
                """
                COPY dead_letters (topic, partition, "offset", message_key, raw, reason_code, reason, message_timestamp)
                FROM STDIN
                """
            ) { writer in
                for letter in batch.deadLetters {
                    writer.append(letter.record.topic)
                    writer.append(letter.record.partition)
                    writer.append(letter.record.offset)
                    if let key = letter.record.key {
                        writer.append(bytea: key)
                    } else {
                        writer.append(nil as String?)
                    }
                    writer.append(bytea: letter.record.value)
                    writer.append(letter.reasonCode)
                    writer.append(letter.reason)
                    writer.append(letter.record.timestampMilliseconds.map { RFC3339.postgresText(micros: $0 * 1000) })
                    writer.endRow()
                }
            }
        }
        for gap in batch.gaps {
            try recordGap(gap, connection)
        }
        for (partition, next) in batch.nextOffsets.sorted(by: {
            ($0.key.topic, $0.key.partition) < ($1.key.topic, $1.key.partition)
        }) {
            try storeOffset(partition, next: next, connection)
        }
    }
}
