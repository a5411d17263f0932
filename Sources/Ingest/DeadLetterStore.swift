import ClickLog
import Foundation
import Postgres

/// Dead letters for operators (`amc deadletters`, `Docs/deadletters.md`): list, inspect, replay with the current
/// parser, purge. Every replay attempt and purge is recorded in the append-only `dead_letter_actions`.
///
/// - Important: ``replay(_:actor:parser:batchSize:)`` and ``purge(before:includePending:actor:chunkSize:)`` run
///   their own transactions: do not call them inside ``PostgresConnection/transaction(_:)``.
public struct DeadLetterStore: Sendable {
    let connection: PostgresConnection
    let events = EventStore()

    /// - Parameter connection: A connection to a migrated database.
    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    // MARK: - Reading

    /// The dead letters matching `filter`, newest first.
    /// - Parameters:
    ///   - filter: State, reason code and topic to match.
    ///   - limit: Most rows returned.
    public func list(_ filter: DeadLetterFilter, limit: Int) throws -> [DeadLetterSummary] {
        try connection.query(
            """
            SELECT id, topic, partition, "offset", created_at, reason_code, reason, state, resolved_at,
                   octet_length(raw)
            FROM dead_letters
            WHERE (\(filter.state?.rawValue)::text IS NULL OR state = \(filter.state?.rawValue))
              AND (\(filter.reasonCode)::text IS NULL OR reason_code = \(filter.reasonCode))
              AND (\(filter.topic)::text IS NULL OR topic = \(filter.topic))
            ORDER BY id DESC LIMIT \(limit)
            """
        ).map(Self.decodeSummary)
    }

    /// How many dead letters match `filter`.
    public func count(_ filter: DeadLetterFilter) throws -> Int {
        try connection.query(
            """
            SELECT count(*) FROM dead_letters
            WHERE (\(filter.state?.rawValue)::text IS NULL OR state = \(filter.state?.rawValue))
              AND (\(filter.reasonCode)::text IS NULL OR reason_code = \(filter.reasonCode))
              AND (\(filter.topic)::text IS NULL OR topic = \(filter.topic))
            """
        )[0].decode(Int.self, column: 0)
    }

    /// One dead letter with its bytes, nil when there is none with this id (never existed, or purged).
    public func detail(_ id: Int64) throws -> DeadLetterDetail? {
        try connection.query(
            """
            SELECT id, topic, partition, "offset", created_at, reason_code, reason, state, resolved_at,
                   octet_length(raw), message_key, raw, message_timestamp
            FROM dead_letters WHERE id = \(id)
            """
        ).first.map { row in
            DeadLetterDetail(
                summary: try Self.decodeSummary(row),
                key: try row.decode([UInt8]?.self, column: 10),
                raw: try row.decode([UInt8].self, column: 11),
                messageTimestamp: try row.decode(Date?.self, column: 12)
            )
        }
    }

    /// The actions recorded for a dead letter (also after it was purged), oldest first.
    public func actions(of id: Int64) throws -> [DeadLetterAction] {
        try connection.query(
            """
            SELECT id, dead_letter_id, topic, partition, "offset", action, outcome, reason_code, detail, actor, at
            FROM dead_letter_actions WHERE dead_letter_id = \(id) ORDER BY id
            """
        ).map { row in
            DeadLetterAction(
                id: try row.decode(Int64.self, column: 0),
                deadLetterID: try row.decode(Int64.self, column: 1),
                topic: try row.decode(String.self, column: 2),
                partition: try row.decode(Int32.self, column: 3),
                offset: try row.decode(Int64.self, column: 4),
                action: try row.decode(String.self, column: 5),
                outcome: try row.decode(String.self, column: 6),
                reasonCode: try row.decode(String?.self, column: 7),
                detail: try row.decode(String.self, column: 8),
                actor: try row.decode(String.self, column: 9),
                at: try row.decode(Date.self, column: 10)
            )
        }
    }

    // MARK: - Purging

    /// What ``purge(before:includePending:actor:chunkSize:)`` would delete now (a dry run; nothing is recorded).
    /// - Parameters:
    ///   - cutoff: Dead letters received strictly before this time.
    ///   - includePending: Whether pending (never resolved) dead letters are included; by default only resolved
    ///     ones (`replayed`, `duplicate`) are.
    public func purgePreview(before cutoff: Date, includePending: Bool) throws -> DeadLetterPurgeSummary {
        var summary = DeadLetterPurgeSummary()
        for row in try connection.query(
            """
            SELECT state, count(*), min(created_at), max(created_at) FROM dead_letters
            WHERE created_at < \(cutoff) AND (\(includePending) OR state <> 'pending')
            GROUP BY state
            """
        ) {
            try Self.add(row, to: &summary)
        }
        return summary
    }

    /// Deletes the dead letters received before `cutoff` (by default only resolved ones), recording one `purge`
    /// action per deleted row, with its id and Kafka position, in the same transaction as the delete.
    ///
    /// Works in chunks of `chunkSize` rows, one transaction each. Rows a replay holds at that moment are skipped
    /// (`SKIP LOCKED`), never waited for. The action log itself is never purged.
    /// - Parameters:
    ///   - cutoff: Dead letters received strictly before this time.
    ///   - includePending: Also delete pending dead letters (bad input given up on).
    ///   - actor: Who purged (recorded).
    ///   - chunkSize: Rows per transaction.
    /// - Returns: What was deleted.
    public func purge(
        before cutoff: Date,
        includePending: Bool,
        actor: String,
        chunkSize: Int = 10_000
    ) throws
        -> DeadLetterPurgeSummary
    {
        precondition(chunkSize >= 1, "chunkSize must be positive")
        var summary = DeadLetterPurgeSummary()
        let cutoffText = RFC3339.format(micros: Int64((cutoff.timeIntervalSince1970 * 1_000_000).rounded(.down)))
        while true {
            let rows = try connection.transaction { connection in
                try connection.query(
                    """
                    WITH gone AS (
                        DELETE FROM dead_letters WHERE id IN (
                            SELECT id FROM dead_letters
                            WHERE created_at < \(cutoff) AND (\(includePending) OR state <> 'pending')
                            ORDER BY id LIMIT \(chunkSize) FOR UPDATE SKIP LOCKED
                        )
                        RETURNING id, topic, partition, "offset", reason_code, state, created_at
                    ), logged AS (
                        INSERT INTO dead_letter_actions
                            (dead_letter_id, topic, partition, "offset", action, outcome, reason_code, detail, actor)
                        SELECT id, topic, partition, "offset", 'purge', 'purged', reason_code,
                               'deleted in state ' || state || ', received ' || created_at::text
                                   || ', before the cutoff ' || \(cutoffText)::text,
                               \(actor)
                        FROM gone ORDER BY id
                    )
                    SELECT state, count(*), min(created_at), max(created_at) FROM gone GROUP BY state
                    """
                )
            }
            var deleted = 0
            for row in rows {
                try Self.add(row, to: &summary)
                deleted += try row.decode(Int.self, column: 1)
            }
            if deleted < chunkSize { return summary }
        }
    }

    // MARK: - Decoding

    static func decodeSummary(_ row: PostgresRow) throws -> DeadLetterSummary {
        DeadLetterSummary(
            id: try row.decode(Int64.self, column: 0),
            topic: try row.decode(String.self, column: 1),
            partition: try row.decode(Int32.self, column: 2),
            offset: try row.decode(Int64.self, column: 3),
            receivedAt: try row.decode(Date.self, column: 4),
            reasonCode: try row.decode(String.self, column: 5),
            reason: try row.decode(String.self, column: 6),
            state: DeadLetterState(rawValue: try row.decode(String.self, column: 7)),
            resolvedAt: try row.decode(Date?.self, column: 8),
            size: try row.decode(Int.self, column: 9)
        )
    }

    private static func add(_ row: PostgresRow, to summary: inout DeadLetterPurgeSummary) throws {
        summary.add(
            state: DeadLetterState(rawValue: try row.decode(String.self, column: 0)),
            count: try row.decode(Int.self, column: 1),
            oldest: try row.decode(Date.self, column: 2),
            newest: try row.decode(Date.self, column: 3)
        )
    }
}
