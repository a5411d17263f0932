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
        let first = try store.readAll()
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
        let second = try store.readWindow(changedSince: first.watermark).snapshot
        #expect(second.pairs.filter(\.changed).isEmpty, "nothing committed since the first watermark")
        try writer.execute(script: "COMMIT")

        // Committed after the second snapshot was taken, so it is "changed since" that watermark.
        let third = try store.readWindow(changedSince: second.watermark).snapshot
        let changed = third.pairs.filter(\.changed)
        #expect(changed.map(\.query) == [target.query])
        #expect(changed.map(\.image) == [target.image])
        #expect(changed.first?.clicks == target.clicks + 5)
        // Only the evidence that arrived in the window counts for it: 5 clicks in one event, ln 6 ≈ 1.79 → Good.
        #expect(changed.first?.windowClicks == 5)
        #expect(changed.first?.recentGrade == 2)
        #expect(third.pairs.filter { !$0.changed }.allSatisfy { $0.windowClicks == 0 && $0.recentGrade == 0 })
        #expect(try store.readWindow(changedSince: third.watermark).snapshot.pairs.filter(\.changed).isEmpty)
    }

    @Test func theCurrentWatermarkMarksOnlyLaterChanges() throws {
        let fixture = try LearningFixture(world: tinyWorld())
        let connection = try fixture.connect()
        defer { connection.close() }
        let store = PairStore(connection: connection)
        let watermark = try store.currentWatermark()
        #expect(try store.readWindow(changedSince: watermark).snapshot.pairs.isEmpty)
        let target = try store.readAll().pairs[0]
        try fixture.addPairs([(target.query, target.image, 1)])
        let changed = try store.readWindow(changedSince: watermark).snapshot.pairs.filter(\.changed)
        #expect(changed.map(\.query) == [target.query] && changed.map(\.image) == [target.image])
    }

    @Test func theWindowGradesEachPairByThePageViewsThatExaminedIt() throws {
        let fixture = try LearningFixture(world: tinyWorld(), withClicks: false)
        let connection = try fixture.connect()
        defer { connection.close() }
        let store = PairStore(connection: connection)
        let watermark = try store.currentWatermark()
        // A view is the event's ranking, else its session; an event with neither is a view of its own.
        try addEvents(
            [
                // Ranking r1 shows A B C D; its user clicks C and A: B is passed over, A is not (clicked in it).
                ClickedView(query: "q", image: "C", position: 2, shown: ["A", "B", "C", "D"], ranking: "r1"),
                ClickedView(query: "q", image: "A", position: 0, shown: ["A", "B", "C", "D"], ranking: "r1"),
                // Session s2 shows B A C D and clicks C: B and A are passed over.
                ClickedView(query: "q", image: "C", position: 2, shown: ["B", "A", "C", "D"], session: "s2"),
                // A view of its own shows D B and clicks B: D is passed over.
                ClickedView(query: "q", image: "B", position: 1, shown: ["D", "B"]),
            ],
            alsoPairs: [("q", "E")],
            to: connection
        )
        let pairs = Dictionary(
            uniqueKeysWithValues: try store.readWindow(changedSince: watermark).snapshot.pairs.map { ($0.image, $0) }
        )
        #expect(pairs.mapValues(\.windowClicks) == ["A": 1, "B": 1, "C": 2, "D": 0, "E": 0])
        #expect(pairs.mapValues(\.recentPassedOver) == ["A": 1, "B": 2, "C": 0, "D": 1, "E": 0])
        // The relevance formula over the window's own evidence: C ln 3 · 3/3 ≈ 1.10 (Fair); A ln 2 · 2/3 ≈ 0.46
        // and B ln 2 · 2/4 ≈ 0.35 (Bad: passed over about as often as clicked).
        #expect(pairs.mapValues(\.recentGrade) == ["A": 0, "B": 0, "C": 1, "D": 0, "E": 0])
        #expect(pairs.values.allSatisfy { $0.recentViewsKnown })
        #expect(pairs.filter { $0.value.wasRecentlyExamined }.keys.sorted() == ["A", "B", "C", "D"])

        // Events without impressions (the Clickture triad form) do not say what users saw.
        let later = try store.currentWatermark()
        try addEvents(
            [ClickedView(query: "t", image: "X", position: 0, shown: [])],
            alsoPairs: [("t", "Y")],
            to: connection
        )
        try connection.execute("UPDATE click_events SET impressions = NULL, position = NULL WHERE query = 't'")
        let triads = try store.readWindow(changedSince: later).snapshot.pairs
        #expect(triads.map(\.image) == ["X", "Y"] && triads.allSatisfy { !$0.recentViewsKnown })
        #expect(
            triads.allSatisfy { $0.wasRecentlyExamined },
            "without impressions every pair of the query may be a negative"
        )
    }

    @Test func recentEvidenceReachesBackToTheHorizonAndTheWindowStaysTheWindow() throws {
        let fixture = try LearningFixture(world: tinyWorld(), withClicks: false)
        let connection = try fixture.connect()
        defer { connection.close() }
        let store = PairStore(connection: connection)
        let horizon = try store.currentWatermark()
        // Before the window: q's A is passed over for B twice, and a query with nothing after the window.
        try addEvents(
            [
                ClickedView(query: "q", image: "B", position: 1, shown: ["A", "B"], ranking: "r1"),
                ClickedView(query: "q", image: "B", position: 1, shown: ["A", "B"], ranking: "r2"),
                ClickedView(query: "old", image: "X", position: 0, shown: ["X"], ranking: "r3"),
            ],
            to: connection
        )
        let watermark = try store.currentWatermark()
        try addEvents(
            [ClickedView(query: "q", image: "A", position: 0, shown: ["A", "B"], ranking: "r4")],
            to: connection
        )

        let window = try store.readWindow(changedSince: watermark).snapshot.pairs
        #expect(window.map(\.image) == ["A", "B"])
        #expect(window.map(\.recentGrade) == [1, 0] && window.map(\.recentPassedOver) == [0, 0])

        let recent = try store.readWindow(changedSince: watermark, evidenceSince: horizon).snapshot.pairs
        // Only the queries with events in the window, as before; their evidence reaches back to the horizon.
        #expect(recent.map(\.query) == ["q", "q"] && recent.map(\.image) == ["A", "B"])
        #expect(recent.map(\.changed) == [true, false])
        #expect(recent.map(\.windowClicks) == [1, 0])
        #expect(recent.map(\.recentPassedOver) == [2, 0])
        // A: ln 2 · 2/4 ≈ 0.35 (Bad: passed over twice, clicked once); B: ln 3 · 3/3 ≈ 1.10 (Fair).
        #expect(recent.map(\.recentGrade) == [0, 1])
        // A horizon later than the window's start does not shorten the window.
        let later = try store.readWindow(changedSince: horizon, evidenceSince: watermark).snapshot.pairs
            .filter { $0.query == "q" }
        #expect(later.map(\.recentPassedOver) == recent.map(\.recentPassedOver))
        #expect(later.map(\.windowClicks) == [1, 2])
    }
}

/// One click in a page view, as a JSON click event with impressions records it.
private struct ClickedView {
    var query: String
    var image: String
    var position: Int
    var shown: [String]
    var ranking: String? = nil
    var session: String? = nil
}

/// Lands `views` as ingest does, in one transaction: one click event each, its pair's click and the pairs of the
/// images shown above it in `relevance_pairs` (and the pairs of `alsoPairs`, without events), stamped with the
/// transaction.
private func addEvents(
    _ views: [ClickedView],
    alsoPairs: [(query: String, image: String)] = [],
    to connection: PostgresConnection
) throws {
    try connection.transaction { connection in
        for view in views {
            try connection.execute(
                """
                INSERT INTO click_events (topic, partition, "offset", query, image, clicks, position, impressions,
                                          session, ranking, event_time)
                SELECT 'views', 0, coalesce(max("offset"), -1) + 1, \(view.query), \(view.image), 1,
                       \(view.position), \(view.shown), \(view.session), \(view.ranking), now()
                FROM click_events WHERE topic = 'views'
                """
            )
        }
        // As ingest folds them: the clicked pair, and the pairs of the images shown above it (their skips).
        let pairs =
            views.map { ($0.query, $0.image, 1) }
            + views.flatMap { view in view.shown.prefix(view.position).map { (view.query, $0, 0) } }
            + alsoPairs.map { ($0.query, $0.image, 0) }
        for (query, image, clicks) in pairs {
            try connection.execute(
                """
                INSERT INTO relevance_pairs AS p (query, image, clicks, click_events, first_seen, last_seen)
                VALUES (\(query), \(image), \(Int64(clicks)), \(Int64(clicks)), now(), now())
                ON CONFLICT (query, image) DO UPDATE SET
                    clicks = p.clicks + excluded.clicks, click_events = p.click_events + excluded.click_events,
                    change_xid = pg_current_xact_id()
                """
            )
        }
    }
}
