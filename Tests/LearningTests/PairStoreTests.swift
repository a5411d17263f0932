import LearningTestSupport
import Postgres
import TestSupport
import Testing

@testable import Learning

@Suite struct PairStoreTests {
    @Test func aPairChangedByATransactionStillOpenAtTheWatermarkIsReadInTheNextCycle() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let reader = try fixture.connect()
        defer { reader.close() }
        let store = PairStore(connection: reader)
        let first = try store.read(changedSince: nil)
        #expect(!first.pairs.isEmpty)
        #expect(first.pairs.allSatisfy { $0.changed })
        let target = first.pairs[0]

        // A writer changes a pair but has not committed when the learner takes its next watermark.
        let writer = try fixture.connect()
        defer { writer.close() }
        try writer.execute(script: "BEGIN")
        try writer.execute(
            """
            INSERT INTO click_events (topic, partition, "offset", query, image, clicks, event_time)
            VALUES ('test', 0, 0, \(target.query), \(target.image), 5, now())
            """
        )
        try writer.execute(
            """
            UPDATE relevance_pairs SET clicks = clicks + 5, click_events = click_events + 1,
                change_xid = pg_current_xact_id()
            WHERE query = \(target.query) AND image = \(target.image)
            """
        )
        let second = try store.read(changedSince: first.watermark)
        #expect(second.pairs.filter(\.changed).isEmpty, "nothing committed since the first watermark")
        try writer.execute(script: "COMMIT")

        // Committed after the second snapshot was taken, so it is "changed since" that watermark.
        let third = try store.read(changedSince: second.watermark)
        let changed = third.pairs.filter(\.changed)
        #expect(changed.map(\.query) == [target.query])
        #expect(changed.map(\.image) == [target.image])
        #expect(changed.first?.clicks == target.clicks + 5)
        // Only the evidence that arrived in the window counts for it: 5 clicks in one event, ln 6 ≈ 1.79 → Good.
        #expect(changed.first?.windowClicks == 5)
        #expect(changed.first?.windowGrade == 2)
        #expect(third.pairs.filter { !$0.changed }.allSatisfy { $0.windowClicks == 0 && $0.windowGrade == 0 })
        #expect(try store.read(changedSince: third.watermark).pairs.filter(\.changed).isEmpty)
    }

    @Test func theCurrentWatermarkMarksOnlyLaterChanges() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let connection = try fixture.connect()
        defer { connection.close() }
        let store = PairStore(connection: connection)
        let watermark = try store.currentWatermark()
        #expect(try store.read(changedSince: watermark).pairs.filter(\.changed).isEmpty)
        let target = try store.read(changedSince: nil).pairs[0]
        try connection.execute(
            """
            UPDATE relevance_pairs SET clicks = clicks + 1, change_xid = pg_current_xact_id()
            WHERE query = \(target.query) AND image = \(target.image)
            """
        )
        let changed = try store.read(changedSince: watermark).pairs.filter(\.changed)
        #expect(changed.map(\.query) == [target.query] && changed.map(\.image) == [target.image])
    }
}
