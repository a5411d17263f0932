import ClickLog
import Foundation
import Kafka
import Postgres
import TestSupport
import Testing

@testable import Ingest

/// End to end through a real PostgreSQL and librdkafka's mock cluster.
@Suite(.timeLimit(.minutes(8)))
struct IngestEndToEndTests {
    @Test func validMessagesLandAndEachMalformedOneIsDeadLetteredWithItsReason() async throws {
        let url = try TestPostgres.freshDatabase()
        let cluster = try MockKafkaCluster(brokers: 1, logger: testLogger)
        try cluster.createTopic("clicks", partitions: 3)
        let fixture = ClickLogFixture(count: 3000, badEvery: 100)
        try produce(fixture.lines, keys: fixture.keys, topic: "clicks", brokers: cluster.bootstrapServers)

        let (task, _) = startIngest(
            url: url,
            brokers: cluster.bootstrapServers,
            topic: "clicks",
            untilIdle: .seconds(2)
        )
        try await task.value

        try expectExactlyOnce(fixture, in: url)

        // Each malformed message is in dead_letters with its raw bytes and the reason it was refused.
        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        var stored: [String: String] = [:]
        for row in try connection.query("SELECT raw, reason_code, reason FROM dead_letters") {
            let raw = String(decoding: try row.decode([UInt8].self, column: 0), as: UTF8.self)
            stored[raw] = try row.decode(String.self, column: 1)
            #expect(!(try row.decode(String.self, column: 2)).isEmpty)
        }
        for bad in fixture.invalid {
            let raw = String(decoding: fixture.lines[bad.offsetIndex], as: UTF8.self)
            #expect(stored[raw] == bad.reason, "\(raw)")
        }
        // Every offset is accounted for: the stored next offsets sum to the number of messages.
        let next = try connection.query("SELECT sum(next_offset)::bigint FROM ingest_offsets")[0].decode(
            Int.self,
            column: 0
        )
        #expect(next == fixture.lines.count)
    }

    @Test func impressionsGiveSkipsToImagesShownAboveTheClick() async throws {
        let url = try TestPostgres.freshDatabase()
        let cluster = try MockKafkaCluster(brokers: 1, logger: testLogger)
        try cluster.createTopic("clicks", partitions: 1)
        // A recent `ts`: event times more than 730 days from receipt are refused.
        let recent = RFC3339.format(micros: Int64(Date().timeIntervalSince1970 - 86_400) * 1_000_000)
        let lines = [
            #"{"query": "Red Car", "image": "c", "impressions": ["a", "b", "c", "d"], "ts": "\#(recent)"}"#,
            #"{"query": "red  car", "image": "b", "clicks": 2, "impressions": ["a", "b", "c"]}"#,
            "c\tRED CAR\t10",
        ].map { Array($0.utf8) }
        try produce(
            lines,
            keys: lines.map { _ in Array("red car".utf8) },
            topic: "clicks",
            brokers: cluster.bootstrapServers
        )
        let (task, _) = startIngest(
            url: url,
            brokers: cluster.bootstrapServers,
            topic: "clicks",
            untilIdle: .seconds(2)
        )
        try await task.value

        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        var pairs: [String: (clicks: Int, events: Int, skips: Int, relevance: Double, grade: Int)] = [:]
        for row in try connection.query(
            "SELECT image, clicks, click_events, skips, relevance, grade FROM relevance_labels WHERE query = 'red car'"
        ) {
            pairs[try row.decode(String.self, column: 0)] = (
                try row.decode(Int.self, column: 1), try row.decode(Int.self, column: 2),
                try row.decode(Int.self, column: 3), try row.decode(Double.self, column: 4),
                try row.decode(Int.self, column: 5)
            )
        }
        // a: skipped twice; b: skipped once, clicked twice in one event; c: 1 + 10 clicks in two events; d: never examined.
        #expect(pairs.keys.sorted() == ["a", "b", "c"])
        #expect(pairs["a"]?.skips == 2 && pairs["a"]?.clicks == 0 && pairs["a"]?.grade == 0)
        #expect(pairs["b"]?.skips == 1 && pairs["b"]?.clicks == 2 && pairs["b"]?.events == 1)
        #expect(pairs["c"]?.skips == 0 && pairs["c"]?.clicks == 11 && pairs["c"]?.events == 2)
        let expectedB = log(3.0) * 2 / 3  // ln(1 + clicks) · (events + 1) / (events + skips + 1)
        #expect(abs((pairs["b"]?.relevance ?? 0) - expectedB) < 1e-9)
        #expect(abs((pairs["c"]?.relevance ?? 0) - log(12.0)) < 1e-9)
        #expect(pairs["c"]?.grade == 3)
    }

    @Test func aMessageTheDatabaseRefusesIsIsolatedAndDeadLetteredWhileTheRestLands() async throws {
        let url = try TestPostgres.freshDatabase()
        let setup = try PostgresConnection.connect(url, logger: testLogger)
        try setup.execute(script: "ALTER TABLE click_events ADD CONSTRAINT test_refuses_evil CHECK (image <> 'evil')")
        setup.close()
        let cluster = try MockKafkaCluster(brokers: 1, logger: testLogger)
        try cluster.createTopic("clicks", partitions: 1)
        var fixture = ClickLogFixture(count: 400)
        fixture.lines.insert(Array("evil\tquery 1\t1".utf8), at: 123)
        fixture.keys.insert(Array("query 1".utf8), at: 123)
        try produce(fixture.lines, keys: fixture.keys, topic: "clicks", brokers: cluster.bootstrapServers)

        let (task, _) = startIngest(
            url: url,
            brokers: cluster.bootstrapServers,
            topic: "clicks",
            untilIdle: .seconds(2)
        )
        try await task.value

        let landed = try totals(url)
        #expect(landed.events == fixture.validCount)
        #expect(landed.deadLetters == 1)
        #expect(try storedPairs(url) == fixture.expectedPairs)
        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        let row = try connection.query("SELECT \"offset\", reason_code FROM dead_letters")[0]
        #expect(try row.decode(Int.self, column: 0) == 123)
        #expect(try row.decode(String.self, column: 1) == "rejected_by_database")
    }

    @Test func aLogStartPastTheStoredOffsetIsRecordedAsALostRange() async throws {
        let url = try TestPostgres.freshDatabase()
        let cluster = try MockKafkaCluster(brokers: 1, logger: testLogger)
        try cluster.createTopic("clicks", partitions: 1)
        // Far more than the embedded broker keeps per partition (~5 MB): it trims the oldest message sets.
        let count = 160_000
        let padding = String(repeating: "x", count: 40)
        let lines = (0..<count).map { Array("img\($0 % 50)\(padding)\tquery \($0 % 7)\t1".utf8) }
        try await blocking {
            try produce(lines, keys: lines.map { _ in nil }, topic: "clicks", brokers: cluster.bootstrapServers)
        }
        let (task, _) = startIngest(
            url: url,
            brokers: cluster.bootstrapServers,
            topic: "clicks",
            untilIdle: .seconds(2),
            batch: 20_000
        )
        try await task.value

        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        let gaps = try connection.query("SELECT from_offset, to_offset, reason FROM ingest_gaps")
        try #require(gaps.count == 1)
        let from = try gaps[0].decode(Int.self, column: 0)
        let to = try gaps[0].decode(Int.self, column: 1)
        #expect(from == 0)
        #expect(to > 0)
        #expect(try gaps[0].decode(String.self, column: 2) == "log_start_moved")
        // Nothing silently skipped: what landed plus what was recorded lost is every offset.
        #expect(try totals(url).events == count - to)
    }
}
