import ClickLog
import Foundation
import Kafka
import Postgres
import TestSupport
import Testing

@testable import Ingest

/// `click_events` partitioned by month (migration 0004): the Kafka position still lands once, and a database
/// migrated from 0003 keeps every event with its transaction stamp.
@Suite(.timeLimit(.minutes(6)))
struct PartitionedEventsTests {
    @Test func aRedeliveredMessageStillCollidesInThePartitionedTable() throws {
        let connection = try PostgresConnection.connect(try TestPostgres.freshDatabase(), logger: testLogger)
        defer { connection.close() }
        let store = EventStore()
        try store.prepare(connection)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        // A triad (no `ts`): dated by its Kafka timestamp, the same on every delivery, whenever it is received.
        let record = ConsumerRecord(
            topic: "clicks",
            partition: 3,
            offset: 41,
            key: Array("red car".utf8),
            value: Array("img1\tred car\t2".utf8),
            timestampMilliseconds: now
        )
        for receivedAt in [now * 1000, now * 1000 + 5_000_000] {
            guard case .event(let positioned) = ClickLogParser().parse(record, receivedAtMicros: receivedAt) else {
                Issue.record("the triad did not parse")
                return
            }
            var pairs = PairAggregator()
            pairs.add(positioned.event, at: positioned.timeMicros)
            do {
                try connection.transaction { try store.write([positioned], pairs: pairs, $0) }
                #expect(receivedAt == now * 1000, "only the first delivery lands")
            } catch let error as PostgresError {
                #expect(receivedAt != now * 1000)
                #expect(error.sqlState == .uniqueViolation)
            }
        }
        let rows = try connection.query(
            "SELECT tableoid::regclass::text, clicks FROM click_events WHERE topic = 'clicks' AND \"offset\" = 41"
        )
        #expect(rows.count == 1)
        #expect(try rows.first?.decode(String.self, column: 0).hasPrefix("click_events_p") == true, "not DEFAULT")
        #expect(try connection.query("SELECT clicks FROM relevance_pairs")[0].decode(Int.self, column: 0) == 2)
    }

    @Test func migratingA0003DatabaseKeepsEveryEventAndItsChangeXID() throws {
        let url = try TestPostgres.freshDatabase(migrated: false)
        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        let all = repositoryRoot.appendingPathComponent("Migrations")
        let upTo0003 = FileManager.default.temporaryDirectory.appendingPathComponent("amc-0003-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: upTo0003, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: upTo0003) }
        for name in try FileManager.default.contentsOfDirectory(atPath: all.path) where name < "0004" {
            try FileManager.default.copyItem(
                at: all.appendingPathComponent(name),
                to: upTo0003.appendingPathComponent(name)
            )
        }
        #expect(try Migrator(directory: upTo0003).migrate(connection).count == 3)

        // Events over two years, from several transactions (distinct stamps), one far outside any month created.
        for batch in 0..<4 {
            try connection.execute(
                """
                INSERT INTO click_events (topic, partition, "offset", query, image, clicks, position, event_time,
                                          session, impressions, ingested_at)
                SELECT 'clicks', \(batch), g, 'q' || g % 7, 'img' || g % 11, 1 + g % 3, g % 5,
                       now() - g * interval '3 days' - \(batch) * interval '1 hour', 's', ARRAY['a', 'b'],
                       now() - g * interval '1 day'
                FROM generate_series(0, 249) AS g
                """
            )
        }
        try connection.execute(
            """
            INSERT INTO click_events (topic, partition, "offset", query, image, clicks, event_time)
            VALUES ('clicks', 9, 0, 'q', 'img', 1, '1999-12-31T23:59:59Z')
            """
        )
        let columns = """
            topic, partition::text, "offset"::text, query, image, clicks::text, position::text, event_time::text,
            session, impressions::text, ingested_at::text, change_xid::text
            """
        let before = try snapshot(connection, columns)
        #expect(before.count == 1001)
        #expect(Set(before.map { $0.last! }).count == 5, "five transactions, five stamps")

        let applied = try Migrator(directory: all).migrate(connection)
        #expect(applied.map(\.version).contains(4))

        #expect(try snapshot(connection, columns) == before)
        #expect(
            try connection.query("SELECT relkind::text FROM pg_class WHERE relname = 'click_events'")[0]
                .decode(String.self, column: 0) == "p"
        )
        #expect(try connection.query("SELECT count(*) FROM click_events_default")[0].decode(Int.self, column: 0) == 0)
        #expect(
            try connection.query("SELECT count(*) FROM click_events_p1999_12")[0].decode(Int.self, column: 0) == 1
        )
        #expect(
            try connection.query("SELECT to_regclass('click_events_unpartitioned')::text")[0].decode(
                String?.self,
                column: 0
            ) == nil
        )
    }

    private func snapshot(_ connection: PostgresConnection, _ columns: String) throws -> [[String?]] {
        try connection.query(
            PostgresQuery(stringLiteral: "SELECT \(columns) FROM click_events ORDER BY topic, partition, \"offset\"")
        ).map { row in
            try (0..<12).map { try row.decode(String?.self, column: $0) }
        }
    }
}
