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

    /// Prepares session state a connection needs (the per-transaction staging table for pair deltas).
    func prepare(_ connection: PostgresConnection) throws {
        try connection.execute(
            script: """
                CREATE TEMP TABLE IF NOT EXISTS pair_delta (
                    query text NOT NULL, image text NOT NULL, clicks bigint NOT NULL, click_events bigint NOT NULL,
                    skips bigint NOT NULL, first_seen timestamptz NOT NULL, last_seen timestamptz NOT NULL
                ) ON COMMIT DELETE ROWS
                """
        )
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

    /// Writes a batch's rows (inside the caller's transaction): events by COPY, pair deltas by COPY into the
    /// staging table and one ordered upsert, dead letters, gaps and offsets.
    func write(_ batch: IngestWrite, _ connection: PostgresConnection) throws {
        if !batch.events.isEmpty {
            _ = try connection.copyIn(
                """
                COPY click_events (topic, partition, "offset", query, image, clicks, position, event_time,
                                   session, impressions) FROM STDIN
                """
            ) { writer in
                for item in batch.events {
                    writer.append(item.record.topic)
                    writer.append(item.record.partition)
                    writer.append(item.record.offset)
                    writer.append(item.event.query)
                    writer.append(item.event.image)
                    writer.append(item.event.clicks)
                    writer.append(item.event.position.map(String.init))
                    writer.append(RFC3339.postgresText(micros: item.timeMicros))
                    writer.append(item.event.session)
                    writer.append(item.event.impressions.map(Self.arrayLiteral))
                    writer.endRow()
                }
            }
        }
        if !batch.pairs.deltas.isEmpty {
            _ = try connection.copyIn(
                "COPY pair_delta (query, image, clicks, click_events, skips, first_seen, last_seen) FROM STDIN"
            ) { writer in
                for (key, delta) in batch.pairs.sorted {
                    writer.append(key.query)
                    writer.append(key.image)
                    writer.append(delta.clicks)
                    writer.append(delta.clickEvents)
                    writer.append(delta.skips)
                    writer.append(RFC3339.postgresText(micros: delta.firstSeenMicros))
                    writer.append(RFC3339.postgresText(micros: delta.lastSeenMicros))
                    writer.endRow()
                }
            }
            try mergePairs(connection)
        }
        if !batch.deadLetters.isEmpty {
            _ = try connection.copyIn(
                """
                COPY dead_letters (topic, partition, "offset", message_key, raw, reason_code, reason) FROM STDIN
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

    /// Folds the staged deltas into `relevance_pairs` with one `MERGE` (a join: about twice as fast as
    /// `INSERT … ON CONFLICT` per pair). Every pair the batch changes is stamped with the batch's transaction
    /// id (`change_xid`), the learner's watermark.
    ///
    /// A pair first seen by two consumers at once (a query whose messages were not all keyed to one partition)
    /// makes one `MERGE` fail with a unique violation; that is reported as transient so the whole transaction is
    /// retried, when the pair exists and is updated instead.
    private func mergePairs(_ connection: PostgresConnection) throws {
        do {
            try connection.execute(
                """
                MERGE INTO relevance_pairs AS p
                USING pair_delta AS d ON p.query = d.query AND p.image = d.image
                WHEN MATCHED THEN UPDATE SET
                    clicks = p.clicks + d.clicks,
                    click_events = p.click_events + d.click_events,
                    skips = p.skips + d.skips,
                    first_seen = LEAST(p.first_seen, d.first_seen),
                    last_seen = GREATEST(p.last_seen, d.last_seen),
                    change_xid = pg_current_xact_id()
                WHEN NOT MATCHED THEN
                    INSERT (query, image, clicks, click_events, skips, first_seen, last_seen)
                    VALUES (d.query, d.image, d.clicks, d.click_events, d.skips, d.first_seen, d.last_seen)
                """
            )
        } catch let error as PostgresError where error.sqlState == .uniqueViolation {
            throw PostgresError(
                sqlState: .serializationFailure,
                message: "a new pair was inserted concurrently; retrying the batch",
                detail: nil,
                isTransient: true
            )
        }
    }

    /// A PostgreSQL array literal (`{"a","b"}`) of text values.
    static func arrayLiteral(_ values: [String]) -> String {
        var out = "{"
        for (index, value) in values.enumerated() {
            if index > 0 { out += "," }
            out += "\""
            for character in value.unicodeScalars {
                if character == "\"" || character == "\\" { out += "\\" }
                out.unicodeScalars.append(character)
            }
            out += "\""
        }
        return out + "}"
    }
}
