import ClickLog
import Foundation
import Kafka
import Postgres
import TestSupport
import Testing

@testable import Ingest

/// JSON events a hostile or broken producer sends: repeated impressions, event times of year 1 or 9999.
@Suite(.timeLimit(.minutes(8)))
struct UntrustedEventTests {
    @Test func oneEventGivesAPairAtMostOneSkip() {
        var aggregator = PairAggregator()
        aggregator.add(
            ClickEvent(query: "q", image: "c", clicks: 1, impressions: ["a", "a", "b", "a", "c"], form: .json),
            at: 5
        )
        #expect(aggregator.deltas[PairKey(query: "q", image: "a")]?.skips == 1)
        #expect(aggregator.deltas[PairKey(query: "q", image: "b")]?.skips == 1)
    }

    @Test func anEventTimeFarFromWhenTheMessageWasReceivedIsADeadLetter() throws {
        let received = try #require(RFC3339.parseMicros("2026-12-04T12:00:00Z"))
        func parsed(_ json: String, kafkaMillis: Int64? = nil) -> ParsedMessage {
            let record = ConsumerRecord(
                topic: "clicks",
                partition: 0,
                offset: 1,
                key: nil,
                value: Array(json.utf8),
                timestampMilliseconds: kafkaMillis
            )
            return ClickLogParser().parse(record, receivedAtMicros: received)
        }
        for ts in ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-12-06T00:00:00Z", "2024-11-01T00:00:00Z"] {
            guard case .invalid(let letter) = parsed(#"{"query": "q", "image": "i", "ts": "\#(ts)"}"#) else {
                Issue.record("ts \(ts) was accepted")
                continue
            }
            #expect(letter.reasonCode == "event_time_out_of_range")
            #expect(letter.reason.contains("field 'ts' \(ts) is more than"), "\(letter.reason)")
        }
        // Without `ts`, the Kafka timestamp dates the event and is held to the same bounds.
        guard case .invalid(let letter) = parsed("i\tq\t1", kafkaMillis: 253_402_300_799_000) else {
            Issue.record("a Kafka timestamp in year 9999 was accepted")
            return
        }
        #expect(letter.reason.contains("the Kafka message timestamp 9999-12-31T23:59:59Z"), "\(letter.reason)")
        guard case .event(let event) = parsed(#"{"query": "q", "image": "i", "ts": "2026-12-04T13:00:00Z"}"#) else {
            Issue.record("a time an hour after receipt was refused")
            return
        }
        #expect(event.timeMicros == received + 3_600_000_000)
    }

    @Test func ingestRefusesThemWithAReasonAndReplayRefusesThemAgain() async throws {
        let cluster = try MockKafkaCluster(brokers: 1, logger: testLogger)
        try cluster.createTopic("clicks", partitions: 1)
        let lines = [
            #"{"query": "q", "image": "c", "impressions": ["a", "a", "a", "c"]}"#,
            #"{"query": "q", "image": "c", "ts": "0001-01-01T00:00:00Z"}"#,
            #"{"query": "q", "image": "c", "ts": "9999-12-31T23:59:59Z"}"#,
        ].map { Array($0.utf8) }
        try produce(lines, keys: lines.map { _ in Array("q".utf8) }, topic: "clicks", brokers: cluster.bootstrapServers)
        let url = try TestPostgres.freshDatabase()
        let (task, _) = startIngest(
            url: url,
            brokers: cluster.bootstrapServers,
            topic: "clicks",
            untilIdle: .seconds(2)
        )
        try await task.value

        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        #expect(try totals(url).events == 1)
        let skips = try connection.query("SELECT image, skips FROM relevance_pairs ORDER BY image").map {
            "\(try $0.decode(String.self, column: 0))=\(try $0.decode(Int.self, column: 1))"
        }
        #expect(skips == ["a=1", "c=0"])
        let reasons = try connection.query("SELECT reason_code FROM dead_letters ORDER BY id").map {
            try $0.decode(String.self, column: 0)
        }
        #expect(reasons == ["event_time_out_of_range", "event_time_out_of_range"])
        let odd = try connection.query(
            "SELECT count(*) FROM amc_click_event_partitions() WHERE name LIKE 'click_events_p0001%' OR name LIKE 'click_events_p9999%'"
        )
        #expect(try odd[0].decode(Int.self, column: 0) == 0)

        // Replay dates them against when ingest received them, so they stay refused, for the same reason.
        let report = try DeadLetterStore(connection: connection).replay(.pending(DeadLetterFilter()), actor: "test")
        #expect(report.count(.stillInvalid) == 2)
        #expect(report.results.map(\.reasonCode) == ["event_time_out_of_range", "event_time_out_of_range"])
        #expect(try totals(url).events == 1)
    }
}
