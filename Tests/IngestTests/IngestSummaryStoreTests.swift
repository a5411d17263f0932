import ClickLog
import Foundation
import Kafka
import Postgres
import TestSupport
import Testing

@testable import Ingest

/// The summary `amc demo` reports: counts, refusals by reason, partition positions, the strongest pairs.
@Suite struct IngestSummaryStoreTests {
    @Test func theSummaryCountsWhatLandedAndRanksPairsByRelevance() throws {
        let connection = try PostgresConnection.connect(try TestPostgres.freshDatabase(), logger: testLogger)
        defer { connection.close() }
        let store = EventStore()
        try store.prepare(connection)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var positioned: [PositionedEvent] = []
        var pairs = PairAggregator()
        for (offset, line) in ["img1\tred car\t1", "img2\tblue sky\t7"].enumerated() {
            let record = ConsumerRecord(
                topic: "clicks",
                partition: 0,
                offset: Int64(offset),
                key: nil,
                value: Array(line.utf8),
                timestampMilliseconds: now
            )
            guard case .event(let event) = ClickLogParser().parse(record, receivedAtMicros: now * 1000) else {
                Issue.record("the triad did not parse")
                return
            }
            positioned.append(event)
            pairs.add(event.event, at: event.timeMicros)
        }
        try connection.transaction { try store.write(positioned, pairs: pairs, $0) }
        try connection.execute(
            "INSERT INTO ingest_offsets (group_id, topic, partition, next_offset) VALUES ('g', 'clicks', 0, 2)"
        )

        let summary = IngestSummaryStore(connection: connection)
        let counts = try summary.counts()
        #expect(counts.events == 2 && counts.pairs == 2 && counts.gaps == 0)
        #expect(try summary.deadLetterReasons().isEmpty)
        #expect(try summary.nextOffsets(topic: "clicks").map(\.next) == [2])
        #expect(try summary.nextOffsets(topic: "other").isEmpty)
        let top = try summary.mostRelevantPairs(limit: 1)
        #expect(top.map(\.query) == ["blue sky"])
        #expect(top.map(\.clicks) == [7])
        #expect(try summary.mostSkippedPairs(limit: 4).isEmpty)
    }
}
