import Foundation
import Postgres

/// What `amc bench adapt` reads from a run's database: the clicks a topic landed, with when they were produced and
/// the ingest transaction that landed them, and whether a version's window includes all of them.
struct AdaptStore: Sendable {
    private let connection: PostgresConnection

    /// - Parameter connection: A connection to a migrated database (not closed by the store).
    init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// Every click event of `topic`: its event time and its ingest transaction.
    func clicks(topic: String) throws -> [ClickToModel.Click] {
        try connection.query(
            """
            SELECT (extract(epoch FROM event_time) * 1000000)::bigint, change_xid::text::bigint
            FROM click_events WHERE topic = \(topic)
            """
        ).map {
            ClickToModel.Click(
                producedAt: Date(timeIntervalSince1970: Double(try $0.decode(Int64.self, column: 0)) / 1e6),
                xid: UInt64(try $0.decode(Int64.self, column: 1))
            )
        }
    }

    /// How many click events of `topic` the watermark of `version` does not see (not yet in its window).
    func clicksOutsideWindow(topic: String, version: Int64) throws -> Int {
        try connection.query(
            """
            SELECT count(*) FROM click_events
            WHERE topic = \(topic)
              AND NOT pg_visible_in_snapshot(change_xid, (SELECT watermark FROM model_versions WHERE version = \(version)))
            """
        )[0].decode(Int.self, column: 0)
    }
}
