import ClickLog
import Kafka
import Postgres

/// The SQL that lands valid click events and their relevance-pair deltas: one `COPY` into `click_events`, one
/// `COPY` of the deltas into a staging table and one `MERGE` into `relevance_pairs`, all inside the caller's
/// transaction, every changed row stamped with that transaction's id (`change_xid`).
///
/// Shared by ingest (``IngestStore``) and dead-letter replay (``DeadLetterStore``), so a replayed event lands
/// exactly as ingest would have landed it.
struct EventStore: Sendable {
    /// The tables keyed by a Kafka position.
    enum PositionTable: String {
        case events = "click_events"
        case deadLetters = "dead_letters"
    }

    /// The positions among `positions` that already have a row in `table` (one query).
    func storedPositions(
        _ positions: [EventPosition],
        in table: PositionTable,
        _ connection: PostgresConnection
    ) throws -> Set<EventPosition> {
        guard !positions.isEmpty else { return [] }
        let rows = try connection.query(
            """
            SELECT topic, partition, "offset" FROM \(unescaped: table.rawValue)
            WHERE (topic, partition, "offset") IN (
                SELECT * FROM unnest(\(positions.map(\.topic)), \(Self.arrayLiteral(positions.map(\.partition)))::integer[],
                                     \(Self.arrayLiteral(positions.map(\.offset)))::bigint[])
            )
            """
        )
        return Set(
            try rows.map { row in
                EventPosition(
                    topic: try row.decode(String.self, column: 0),
                    partition: try row.decode(Int32.self, column: 1),
                    offset: try row.decode(Int64.self, column: 2)
                )
            }
        )
    }

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

    /// Writes events by COPY and their pair deltas by COPY into the staging table and one ordered upsert
    /// (inside the caller's transaction; the connection must be ``prepare(_:)``d).
    func write(_ events: [PositionedEvent], pairs: PairAggregator, _ connection: PostgresConnection) throws {
        if !events.isEmpty {
            _ = try connection.copyIn(
                """
                COPY click_events (topic, partition, "offset", query, image, clicks, position, event_time,
                                   session, impressions, ranking) FROM STDIN
                """
            ) { writer in
                for item in events {
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
                    writer.append(item.event.ranking)
                    writer.endRow()
                }
            }
        }
        if !pairs.deltas.isEmpty {
            _ = try connection.copyIn(
                "COPY pair_delta (query, image, clicks, click_events, skips, first_seen, last_seen) FROM STDIN"
            ) { writer in
                for (key, delta) in pairs.sorted {
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

    /// A PostgreSQL array literal of integers (`{1,2,3}`).
    static func arrayLiteral(_ values: [some BinaryInteger]) -> String {
        "{" + values.map { "\($0)" }.joined(separator: ",") + "}"
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

/// A Kafka position: the identity of a stored click event (`click_events`' key).
struct EventPosition: Hashable, Sendable {
    var topic: String
    var partition: Int32
    var offset: Int64

    init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    init(_ record: ConsumerRecord) {
        self.init(topic: record.topic, partition: record.partition, offset: record.offset)
    }
}
