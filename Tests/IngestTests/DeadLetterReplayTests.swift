import ClickLog
import Foundation
import Kafka
import Postgres
import TestSupport
import Testing

@testable import Ingest

/// `DeadLetterStore`: replay with the current parser (exactly once, audited), purge (audited, history kept).
@Suite(.timeLimit(.minutes(8)))
struct DeadLetterReplayTests {
    @Test func aDeadLetterValidNowLandsExactlyAsIngestWouldHaveLandedItAndOnlyOnce() async throws {
        let cluster = try MockKafkaCluster(brokers: 1, logger: testLogger)
        try cluster.createTopic("clicks", partitions: 2)
        // A recent `ts`: event times more than 730 days from receipt are refused.
        let recent = RFC3339.format(micros: Int64(Date().timeIntervalSince1970 - 86_400) * 1_000_000)
        let lines = [
            "img1\tRed  Car\t3",
            #"{"query": "red car", "image": "img2", "impressions": ["img1", "img2", "img3"], "ts": "\#(recent)"}"#,
            #"{"query": "Blue  Sky", "image": "sky9", "clicks": 2, "position": 1, "impressions": ["sky1", "sky9"], "session": "s-1"}"#,
            "img1\tred car\t1",
            "sky1\tblue sky\t12",
            "img3\tred car\t0",
        ].map { Array($0.utf8) }
        let keys: [[UInt8]?] = ["red car", "red car", "blue sky", "red car", "blue sky", "red car"].map {
            Array($0.utf8)
        }
        try produce(lines, keys: keys, topic: "clicks", brokers: cluster.bootstrapServers)

        // The reference: today's ingest. The subject: the same messages ingested with a limit so low that every
        // one was refused (the bug since fixed), then replayed with today's parser.
        let reference = try TestPostgres.freshDatabase()
        let subject = try TestPostgres.freshDatabase()
        var broken = ClickLogParser.Limits()
        broken.maxMessageBytes = 8
        for (url, limits) in [(reference, ClickLogParser.Limits()), (subject, broken)] {
            let (task, _) = startIngest(
                url: url,
                brokers: cluster.bootstrapServers,
                topic: "clicks",
                untilIdle: .seconds(2),
                parserLimits: limits
            )
            try await task.value
        }
        #expect(try totals(reference).deadLetters == 1)
        #expect(try totals(subject) == Totals(deadLetters: 6))

        let connection = try PostgresConnection.connect(subject, logger: testLogger)
        defer { connection.close() }
        #expect(
            try connection.query("SELECT count(*) FROM dead_letters WHERE message_timestamp IS NULL")[0]
                .decode(Int.self, column: 0) == 0,
            "ingest records each dead letter's Kafka timestamp"
        )
        let before = try connection.query("SELECT pg_current_snapshot()::text")[0].decode(String.self, column: 0)
        let store = DeadLetterStore(connection: connection)
        let report = try store.replay(.pending(DeadLetterFilter()), actor: "alice")
        #expect(report.count(.replayed) == 5)
        #expect(report.count(.stillInvalid) == 1)
        #expect(report.events == 5)
        #expect(report.transactions == 1)
        let invalid = try #require(report.results.first { $0.outcome == .stillInvalid })
        #expect(invalid.reasonCode == "invalid_click_count")

        // Exactly what ingest made: the same events at the same positions and times, the same pairs and grades.
        #expect(try eventRows(subject) == eventRows(reference))
        #expect(try pairRows(subject) == pairRows(reference))
        // Stamped like an ingest transaction: everything changed is new to a snapshot taken before the replay.
        let unseen = try connection.query(
            """
            SELECT (SELECT count(*) FROM click_events WHERE pg_visible_in_snapshot(change_xid, \(before)::pg_snapshot)),
                   (SELECT count(*) FROM relevance_pairs WHERE pg_visible_in_snapshot(change_xid, \(before)::pg_snapshot))
            """
        )[0]
        #expect(try unseen.decode(Int.self, column: 0) == 0)
        #expect(try unseen.decode(Int.self, column: 1) == 0)

        // Resolved rows are kept and marked; the invalid one stays pending; every attempt is recorded.
        #expect(try states(connection) == ["pending": 1, "replayed": 5])
        #expect(try actionCounts(connection) == ["replay/replayed": 5, "replay/still_invalid": 1])
        #expect(
            try connection.query("SELECT DISTINCT actor FROM dead_letter_actions")[0].decode(String.self, column: 0)
                == "alice"
        )

        // Replaying again changes nothing: no pending valid letter is left, and resolved ids are reported as such.
        let again = try store.replay(.pending(DeadLetterFilter()), actor: "alice")
        #expect(again.count(.replayed) == 0)
        #expect(again.count(.stillInvalid) == 1)
        let replayedIDs = try connection.query("SELECT id FROM dead_letters WHERE state = 'replayed' ORDER BY id")
            .map { try $0.decode(Int64.self, column: 0) }
        let byID = try store.replay(.ids(replayedIDs + [987_654]), actor: "alice")
        #expect(byID.results.map(\.outcome) == replayedIDs.map { _ in .alreadyResolved } + [.notFound])
        #expect(try eventRows(subject) == eventRows(reference))
        #expect(try pairRows(subject) == pairRows(reference))
        #expect(try actionCounts(connection) == ["replay/replayed": 5, "replay/still_invalid": 2])
    }

    @Test func aStillInvalidDeadLetterStaysPendingWithTheNewReasonRecorded() throws {
        let url = try TestPostgres.freshDatabase()
        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        let wordy = try insertDeadLetter(connection, offset: 1, raw: Array("img1\tred car\tlots".utf8))
        let binary = try insertDeadLetter(connection, offset: 2, raw: [0x69, 0x09, 0xFF, 0xFE, 0x09, 0x31])
        let store = DeadLetterStore(connection: connection)

        for _ in 0..<2 {
            let report = try store.replay(.ids([wordy, binary]), actor: "bob")
            #expect(report.results.map(\.outcome) == [.stillInvalid, .stillInvalid])
            #expect(report.results.map(\.reasonCode) == ["invalid_click_count", "invalid_utf8"])
            #expect(report.results.map(\.state) == [.pending, .pending])
        }
        #expect(try totals(url) == Totals(deadLetters: 2))
        #expect(try states(connection) == ["pending": 2])
        // The dead letter keeps the reason ingest gave; each attempt's reason is in its action.
        #expect(try store.detail(wordy)?.summary.reasonCode == "too_large")
        let actions = try store.actions(of: wordy)
        #expect(actions.map(\.outcome) == ["still_invalid", "still_invalid"])
        #expect(actions.map(\.reasonCode) == ["invalid_click_count", "invalid_click_count"])
        #expect(actions.allSatisfy { $0.actor == "bob" && $0.offset == 1 && $0.topic == "clicks" })
        #expect(actions.allSatisfy { $0.detail.hasPrefix("invalid_click_count: ") })
    }

    @Test func concurrentReplaysNeverLandAnEventTwice() async throws {
        let url = try TestPostgres.freshDatabase()
        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        var expected: [String: Int] = [:]
        var lines: [[UInt8]] = []
        for index in 0..<1200 {
            let (query, image, clicks) = ("query \(index % 17)", "img\(index % 5)", index % 3 + 1)
            lines.append(Array("\(image)\t\(query)\t\(clicks)".utf8))
            expected["\(query)|\(image)", default: 0] += clicks
        }
        try insertDeadLetters(connection, lines)

        let reports = try await withThrowingTaskGroup(of: DeadLetterReplayReport.self) { group in
            for replayer in 0..<4 {
                group.addTask {
                    try await blocking {
                        let own = try PostgresConnection.connect(url, logger: testLogger)
                        defer { own.close() }
                        return try DeadLetterStore(connection: own).replay(
                            replayer.isMultiple(of: 2) ? .pending(DeadLetterFilter()) : .ids(Array(1...1200)),
                            actor: "replayer-\(replayer)",
                            batchSize: 50
                        )
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(reports.map { $0.count(.replayed) }.reduce(0, +) == 1200)
        #expect(reports.map(\.events).reduce(0, +) == 1200)
        #expect(try totals(url).events == 1200)
        #expect(try storedPairs(url) == expected)
        #expect(try states(connection) == ["replayed": 1200])
        let audited = try connection.query(
            "SELECT count(*), count(DISTINCT dead_letter_id) FROM dead_letter_actions WHERE outcome = 'replayed'"
        )[0]
        #expect(try audited.decode(Int.self, column: 0) == 1200)
        #expect(try audited.decode(Int.self, column: 1) == 1200)
    }

    @Test func aDeadLetterWhosePositionAlreadyHasAnEventIsMarkedDuplicateAndAddsNothing() throws {
        let url = try TestPostgres.freshDatabase()
        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        try connection.execute(
            """
            INSERT INTO click_events (topic, partition, "offset", query, image, clicks, event_time)
            VALUES ('clicks', 0, 5, 'red car', 'img1', 2, now())
            """
        )
        let id = try insertDeadLetter(
            connection,
            offset: 5,
            raw: Array("img1\tred car\t2".utf8),
            reasonCode: "rejected_by_database"
        )
        let report = try DeadLetterStore(connection: connection).replay(.ids([id]), actor: "carol")
        #expect(report.results.map(\.outcome) == [.duplicate])
        #expect(report.events == 0)
        #expect(try totals(url) == Totals(events: 1, deadLetters: 1))
        #expect(try states(connection) == ["duplicate": 1])
        #expect(try actionCounts(connection) == ["replay/duplicate": 1])
    }

    @Test func aReplayThatFailsPartWayLeavesNothingBehindAndALaterOneLandsOnce() throws {
        let url = try TestPostgres.freshDatabase()
        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        try insertDeadLetters(connection, (0..<10).map { Array("img\($0)\tred car\t1".utf8) })
        // The last step of the transaction (recording the actions) fails, as a crash there would.
        try connection.execute(
            script: """
                CREATE FUNCTION fail_now() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'simulated crash'; END; $$;
                CREATE TRIGGER fail_now BEFORE INSERT ON dead_letter_actions EXECUTE FUNCTION fail_now();
                """
        )
        let store = DeadLetterStore(connection: connection)
        #expect(throws: PostgresError.self) { try store.replay(.pending(DeadLetterFilter()), actor: "dave") }
        #expect(try totals(url) == Totals(deadLetters: 10))
        #expect(try states(connection) == ["pending": 10])
        #expect(try actionCounts(connection).isEmpty)

        try connection.execute(script: "DROP TRIGGER fail_now ON dead_letter_actions")
        #expect(try store.replay(.pending(DeadLetterFilter()), actor: "dave").count(.replayed) == 10)
        #expect(try totals(url) == Totals(events: 10, deadLetters: 10, pairs: 10, clicks: 10))
    }

    @Test func aLetterTheDatabaseRefusesIsIsolatedAndRecordedWhileTheRestOfItsBatchLands() throws {
        let url = try TestPostgres.freshDatabase()
        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        try insertDeadLetters(connection, (0..<8).map { Array("img\($0)\tred car\t1".utf8) })
        try connection.execute(script: "ALTER TABLE click_events ADD CONSTRAINT no_img5 CHECK (image <> 'img5')")

        let report = try DeadLetterStore(connection: connection).replay(
            .pending(DeadLetterFilter()),
            actor: "frank",
            batchSize: 4
        )
        #expect(report.results.map(\.outcome) == (0..<8).map { $0 == 5 ? .rejected : .replayed })
        #expect(try totals(url) == Totals(events: 7, deadLetters: 8, pairs: 7, clicks: 7))
        #expect(try states(connection) == ["pending": 1, "replayed": 7])
        #expect(try actionCounts(connection) == ["replay/rejected": 1, "replay/replayed": 7])
        let rejection = try #require(report.results.first { $0.outcome == .rejected })
        #expect(rejection.detail.contains("no_img5"), "\(rejection.detail)")
    }

    @Test func purgeDeletesOnlyWhatWasReceivedBeforeTheCutoffAndKeepsEveryRowsHistory() throws {
        let url = try TestPostgres.freshDatabase()
        let connection = try PostgresConnection.connect(url, logger: testLogger)
        defer { connection.close() }
        let raw = Array("img1\tred car\tlots".utf8)
        let oldPending = try insertDeadLetter(connection, offset: 1, raw: raw, age: "40 days")
        let oldReplayed = try insertDeadLetter(connection, offset: 2, raw: raw, age: "40 days", state: "replayed")
        let oldDuplicate = try insertDeadLetter(connection, offset: 3, raw: raw, age: "31 days", state: "duplicate")
        let recentReplayed = try insertDeadLetter(connection, offset: 4, raw: raw, age: "29 days", state: "replayed")
        let store = DeadLetterStore(connection: connection)
        let cutoff = Date().addingTimeInterval(-30 * 86_400)

        let preview = try store.purgePreview(before: cutoff, includePending: false)
        #expect(preview.byState == [.replayed: 1, .duplicate: 1])
        #expect(try totals(url).deadLetters == 4, "a preview deletes nothing")
        #expect(try actionCounts(connection).isEmpty, "and records nothing")

        let purged = try store.purge(before: cutoff, includePending: false, actor: "erin", chunkSize: 1)
        #expect(purged == preview)
        #expect(try remainingIDs(connection) == [oldPending, recentReplayed])
        let withPending = try store.purge(before: cutoff, includePending: true, actor: "erin")
        #expect(withPending.byState == [.pending: 1])
        #expect(try remainingIDs(connection) == [recentReplayed])

        // The rows are gone; their history is not.
        for (id, offset) in [(oldPending, 1), (oldReplayed, 2), (oldDuplicate, 3)] {
            #expect(try store.detail(id) == nil)
            let actions = try store.actions(of: id)
            #expect(actions.count == 1)
            #expect(actions.first?.action == "purge")
            #expect(actions.first?.outcome == "purged")
            #expect(actions.first?.actor == "erin")
            #expect(actions.first?.topic == "clicks")
            #expect(actions.first?.offset == Int64(offset))
            #expect(actions.first?.reasonCode == "too_large")
        }
        // And the history is append-only.
        for statement in [
            "UPDATE dead_letter_actions SET actor = 'mallory'", "DELETE FROM dead_letter_actions",
            "TRUNCATE dead_letter_actions",
        ] {
            let error = try #require(throws: PostgresError.self) { try connection.execute(script: statement) }
            #expect(error.sqlState == "23001", "\(statement): \(error)")
        }
        #expect(try actionCounts(connection) == ["purge/purged": 3])
    }
}

// MARK: - Helpers

/// Inserts a dead letter at `clicks`/0/`offset` the way ingest would (received `age` ago) and returns its id.
private func insertDeadLetter(
    _ connection: PostgresConnection,
    offset: Int64,
    raw: [UInt8],
    reasonCode: String = "too_large",
    age: String = "0 seconds",
    state: String = "pending"
) throws -> Int64 {
    try connection.query(
        """
        INSERT INTO dead_letters (topic, partition, "offset", raw, reason_code, reason, created_at, state, resolved_at)
        VALUES ('clicks', 0, \(offset), \(raw), \(reasonCode), \(reasonCode + ": as ingest refused it"),
                now() - \(age)::interval, \(state), CASE WHEN \(state) = 'pending' THEN NULL ELSE now() END)
        RETURNING id
        """
    )[0].decode(Int64.self, column: 0)
}

/// Inserts one pending dead letter per line at `clicks`/0/0, 1, 2, …, in one transaction.
private func insertDeadLetters(_ connection: PostgresConnection, _ lines: [[UInt8]]) throws {
    try connection.transaction { connection in
        for (offset, line) in lines.enumerated() {
            _ = try insertDeadLetter(connection, offset: Int64(offset), raw: line)
        }
    }
}

/// Every stored event as text, in position order, without the ingest time and transaction stamp.
private func eventRows(_ url: String) throws -> [[String?]] {
    try rows(
        url,
        """
        SELECT topic, partition, "offset", query, image, clicks, position, event_time, session, impressions
        FROM click_events ORDER BY topic, partition, "offset"
        """
    )
}

/// Every pair's evidence and label as text, without the transaction stamp.
private func pairRows(_ url: String) throws -> [[String?]] {
    try rows(
        url,
        """
        SELECT query, image, clicks, click_events, skips, relevance, grade, first_seen, last_seen
        FROM relevance_labels ORDER BY query, image
        """
    )
}

private func rows(_ url: String, _ query: PostgresQuery) throws -> [[String?]] {
    let connection = try PostgresConnection.connect(url, logger: testLogger)
    defer { connection.close() }
    return try connection.query(query).map { row in (0..<row.count).map { row[$0] } }
}

private func states(_ connection: PostgresConnection) throws -> [String: Int] {
    var counts: [String: Int] = [:]
    for row in try connection.query("SELECT state, count(*) FROM dead_letters GROUP BY state") {
        counts[try row.decode(String.self, column: 0)] = try row.decode(Int.self, column: 1)
    }
    return counts
}

private func actionCounts(_ connection: PostgresConnection) throws -> [String: Int] {
    var counts: [String: Int] = [:]
    for row in try connection.query("SELECT action || '/' || outcome, count(*) FROM dead_letter_actions GROUP BY 1") {
        counts[try row.decode(String.self, column: 0)] = try row.decode(Int.self, column: 1)
    }
    return counts
}

private func remainingIDs(_ connection: PostgresConnection) throws -> [Int64] {
    try connection.query("SELECT id FROM dead_letters ORDER BY id").map { try $0.decode(Int64.self, column: 0) }
}
