import Foundation
import Learning
import Postgres
import Registry
import TestSupport
import Testing

@testable import Provenance

/// `amc retention`'s store on a real database: whole partitions only, the protected boundary of the active
/// version (and of versions activated within the keep period), dry runs, the append-only run log, and what
/// `amc audit pair` says about removed events.
@Suite struct RetentionTests {
    /// The time every run counts back from; with `keep: 90d` the requested cutoff is 2025-09-16T00:00:00Z.
    static let now = date("2025-12-15T00:00:00Z")
    static let policy = RetentionPolicy(keep: "90d", keepSeconds: 90 * 86_400, monthsAhead: 3, now: now)

    @Test func onlyWholePartitionsOlderThanTheCutoffAreDroppedAndTheDefaultPartitionIsDrained() throws {
        let db = try RetentionDatabase()
        defer { db.close() }
        // All of them land in DEFAULT: a fresh database has partitions only from the real current month on.
        try db.events(["2025-03-10T12:00:00Z", "2025-08-31T23:59:59Z", "2025-09-10T00:00:00Z", "2025-11-01T00:00:00Z"])
        #expect(try db.count("SELECT count(*) FROM click_events_default") == 4)

        let report = try RetentionStore(connection: db.connection).run(Self.policy, dryRun: false, actor: "test")

        #expect(report.cutoff == date("2025-09-16T00:00:00Z"))
        #expect(!report.heldBack && report.protected == nil)
        #expect(report.partitionsDropped.map(\.name) == ["click_events_p2025_03", "click_events_p2025_08"])
        #expect(report.partitionsDropped.map(\.events) == [1, 1])
        #expect(report.eventsRemoved == 2)
        #expect(report.removedBefore == date("2025-09-01T00:00:00Z"))
        #expect(report.partitionsCreated.contains("click_events_p2025_12"))
        #expect(report.partitionsCreated.contains("click_events_p2026_03"))
        // September straddles the cutoff: kept whole, its event before the cutoff included.
        #expect(try db.eventTimes() == [date("2025-09-10T00:00:00Z"), date("2025-11-01T00:00:00Z")])
        #expect(try db.count("SELECT count(*) FROM click_events_default") == 0)
        #expect(try db.partitions().contains("click_events_p2025_09"))
        #expect(!(try db.partitions().contains("click_events_p2025_08")))

        let run = try db.connection.query(
            """
            SELECT actor, keep, cutoff, partitions_dropped, events_removed, protected_by_version
            FROM retention_runs WHERE id = \(try #require(report.run))
            """
        )[0]
        #expect(try run.decode(String.self, column: 0) == "test")
        #expect(try run.decode(String.self, column: 1) == "90d")
        #expect(try run.decode(Date.self, column: 2) == report.cutoff)
        #expect(try run.decode([String].self, column: 3) == ["click_events_p2025_03", "click_events_p2025_08"])
        #expect(try run.decode(Int64.self, column: 4) == 2)
        #expect(try run.decode(Int64?.self, column: 5) == nil)

        // Nothing older is left: a second run drops nothing and is still recorded.
        let again = try RetentionStore(connection: db.connection).run(Self.policy, dryRun: false, actor: "test")
        #expect(again.partitionsDropped.isEmpty && again.partitionsCreated.isEmpty)
        #expect(try db.count("SELECT count(*) FROM retention_runs") == 2)
    }

    @Test func rankingsServedADayBeforeTheOldestKeptEventsAreRemovedAndCounted() throws {
        let db = try RetentionDatabase()
        defer { db.close() }
        try db.events(["2025-03-10T12:00:00Z", "2025-09-10T00:00:00Z"])
        let version = try db.version(parent: nil)
        // Served around the start of September, the oldest month that stays (the cutoff is 2025-09-16).
        let served = [
            "2025-03-10T11:00:00Z", "2025-08-30T23:59:59Z", "2025-08-31T00:00:01Z", "2025-09-10T00:00:00Z",
        ]
        for (index, time) in served.enumerated() {
            try db.connection.execute(
                """
                INSERT INTO rankings (id, served_at, model_version, query, images)
                VALUES (('01938a5c-7d2e-7b3a-9c1d-2e4f6a8b0c1' || \(String(index)))::uuid, \(time)::timestamptz,
                        \(version), 'q', ARRAY['a'])
                """
            )
        }

        let dry = try RetentionStore(connection: db.connection).run(Self.policy, dryRun: true, actor: "test")
        #expect(dry.rankingsCutoff == date("2025-08-31T00:00:00Z"))
        #expect(dry.rankingsRemoved == 2)
        #expect(try db.count("SELECT count(*) FROM rankings") == 4)

        let report = try RetentionStore(connection: db.connection).run(Self.policy, dryRun: false, actor: "test")
        #expect(report.rankingsCutoff == date("2025-08-31T00:00:00Z"))
        #expect(report.rankingsRemoved == 2)
        #expect(
            try db.connection.query("SELECT served_at FROM rankings ORDER BY served_at").map {
                try $0.decode(Date.self, column: 0)
            } == [date("2025-08-31T00:00:01Z"), date("2025-09-10T00:00:00Z")]
        )
        let recorded = try db.connection.query(
            "SELECT rankings_removed FROM retention_runs WHERE id = \(try #require(report.run))"
        )[0]
        #expect(try recorded.decode(Int64.self, column: 0) == 2)
    }

    @Test func aDryRunReportsExactlyWhatARunDoesAndChangesNothing() throws {
        let db = try RetentionDatabase()
        defer { db.close() }
        try db.events(["2025-01-05T00:00:00Z", "2025-01-06T00:00:00Z", "2025-06-01T00:00:00Z", "2025-10-01T00:00:00Z"])
        let partitions = try db.partitions()
        let events = try db.eventTimes()

        let dry = try RetentionStore(connection: db.connection).run(Self.policy, dryRun: true, actor: "test")

        #expect(dry.dryRun && dry.run == nil)
        #expect(try db.partitions() == partitions)
        #expect(try db.eventTimes() == events)
        #expect(try db.count("SELECT count(*) FROM click_events_default") == 4)
        #expect(try db.count("SELECT count(*) FROM retention_runs") == 0)

        let real = try RetentionStore(connection: db.connection).run(Self.policy, dryRun: false, actor: "test")
        #expect(dry.partitionsDropped == real.partitionsDropped)
        #expect(dry.partitionsDropped.map(\.events) == [2, 1])
        #expect(Set(dry.partitionsCreated) == Set(real.partitionsCreated))
        #expect(dry.cutoff == real.cutoff && dry.eventsRemoved == real.eventsRemoved)
    }

    @Test func theActiveFineTunesWindowAndTheNextWindowAreNeverRemoved() throws {
        let db = try RetentionDatabase()
        defer { db.close() }
        try db.events(["2025-01-10T00:00:00Z"])  // before the bootstrap
        let bootstrap = try db.version(parent: nil)
        try db.events(["2025-04-10T00:00:00Z", "2025-07-01T00:00:00Z"])  // the fine-tune's window
        let fineTune = try db.version(parent: bootstrap)
        try db.activate(fineTune)

        let windowOnly = try RetentionStore(connection: db.connection).run(Self.policy, dryRun: true, actor: "test")
        #expect(windowOnly.heldBack)
        #expect(windowOnly.cutoff == date("2025-04-10T00:00:00Z"))
        #expect(windowOnly.protected?.version == fineTune)
        #expect(windowOnly.protected?.reason.contains("training window") == true)
        #expect(windowOnly.partitionsDropped.map(\.name) == ["click_events_p2025_01"])

        // A late event (an old `ts`) after the active version's watermark is the next fine-tune's: kept too.
        try db.events(["2025-03-20T00:00:00Z"])
        let report = try RetentionStore(connection: db.connection).run(Self.policy, dryRun: false, actor: "test")
        #expect(report.cutoff == date("2025-03-20T00:00:00Z"))
        #expect(report.protected?.version == fineTune)
        #expect(report.protected?.reason.contains("next fine-tune") == true)
        #expect(report.partitionsDropped.map(\.name) == ["click_events_p2025_01"])
        #expect(
            try db.eventTimes() == ["2025-03-20T00:00:00Z", "2025-04-10T00:00:00Z", "2025-07-01T00:00:00Z"].map(date)
        )
        #expect(
            try db.count("SELECT count(*) FROM retention_runs WHERE protected_by_version = \(fineTune)") == 1
        )
    }

    @Test func aBootstrapAsActiveVersionHoldsEverythingItTrainedOn() throws {
        let db = try RetentionDatabase()
        defer { db.close() }
        try db.events(["2024-11-02T00:00:00Z", "2025-02-01T00:00:00Z", "2025-05-01T00:00:00Z"])
        let bootstrap = try db.version(parent: nil)
        try db.activate(bootstrap)

        let report = try RetentionStore(connection: db.connection).run(Self.policy, dryRun: false, actor: "test")

        #expect(report.heldBack)
        #expect(report.cutoff == date("2024-11-02T00:00:00Z"))
        #expect(report.protected?.version == bootstrap)
        #expect(report.protected?.reason.contains("bootstrap") == true)
        #expect(report.partitionsDropped.isEmpty && report.eventsRemoved == 0)
        #expect(try db.eventTimes().count == 3)
    }

    @Test func aVersionActivatedWithinTheKeepPeriodKeepsItsWindowForARollbackAudit() throws {
        let db = try RetentionDatabase()
        defer { db.close() }
        try db.events(["2025-01-10T00:00:00Z"])
        let bootstrap = try db.version(parent: nil)
        try db.events(["2025-04-10T00:00:00Z"])
        let fineTune = try db.version(parent: bootstrap)
        try db.activate(bootstrap)
        try db.activate(fineTune)

        // The bootstrap was active moments ago (within 90 days of the run): its whole window stays.
        let recent = try RetentionStore(connection: db.connection).run(Self.policy, dryRun: true, actor: "test")
        #expect(recent.protected?.version == bootstrap)
        #expect(recent.protected?.reason.contains("activated within the keep period") == true)
        #expect(recent.partitionsDropped.isEmpty)

        // Run a year later: only the active fine-tune's window is protected.
        var later = Self.policy
        later.now = Date().addingTimeInterval(365 * 86_400)
        let report = try RetentionStore(connection: db.connection).run(later, dryRun: true, actor: "test")
        #expect(report.protected?.version == fineTune)
        #expect(report.partitionsDropped.map(\.name) == ["click_events_p2025_01"])
    }

    @Test func retentionRunsAreAppendOnly() throws {
        let db = try RetentionDatabase()
        defer { db.close() }
        _ = try RetentionStore(connection: db.connection).run(Self.policy, dryRun: false, actor: "test")
        for statement in [
            "UPDATE retention_runs SET actor = 'someone else'",
            "DELETE FROM retention_runs",
            "TRUNCATE retention_runs",
        ] {
            #expect(throws: PostgresError.self, "\(statement)") { try db.connection.execute(script: statement) }
        }
        #expect(try db.count("SELECT count(*) FROM retention_runs") == 1)
    }

    @Test func auditPairSaysWhichEventsRetentionRemoved() throws {
        let db = try RetentionDatabase()
        defer { db.close() }
        try db.events(["2025-02-01T00:00:00Z", "2025-03-01T00:00:00Z", "2025-11-20T00:00:00Z"], clicks: [2, 3, 1])
        let store = ProvenanceStore(connection: db.connection)
        let before = try store.pair(query: "red car", image: "img1")
        #expect(before.removedEvents == 0 && before.removedBefore == nil && before.events.count == 3)

        _ = try RetentionStore(connection: db.connection).run(Self.policy, dryRun: false, actor: "test")

        let after = try store.pair(query: "red car", image: "img1")
        #expect(after.clickEvents == 3 && after.clicks == 6)
        #expect(after.removedEvents == 2)
        #expect(after.removedClicks == 5)
        #expect(after.removedBefore == date("2025-04-01T00:00:00Z"))
        #expect(after.events.map(\.clicks) == [1])
        #expect(after.events.last?.clicksSoFar == 6, "the running total counts the removed events")
        #expect(after.events.last?.gradeSoFar == before.events.last?.gradeSoFar)
    }
}

// MARK: - Helpers

/// A fresh migrated database with helpers to add events (each call its own transaction, so its own change_xid)
/// and versions whose watermark is the current snapshot.
struct RetentionDatabase {
    let connection: PostgresConnection

    init() throws {
        connection = try PostgresConnection.connect(try TestPostgres.freshDatabase(), logger: testLogger)
    }

    func close() { connection.close() }

    /// One event per time for pair ("red car", img1), and the pair's totals, in one transaction as ingest does.
    func events(_ times: [String], clicks: [Int]? = nil) throws {
        let clicks = (clicks ?? times.map { _ in 1 }).map(String.init)
        _ = try connection.transaction { connection in
            try connection.execute(
                """
                WITH input AS (
                    SELECT t::timestamptz AS t, c::integer AS c FROM unnest(\(times), \(clicks)) AS u(t, c)
                ), base AS (
                    SELECT coalesce(max("offset"), -1) AS b FROM click_events
                ), inserted AS (
                    INSERT INTO click_events (topic, partition, "offset", query, image, clicks, event_time)
                    SELECT 'clicks', 0, b + row_number() OVER (ORDER BY t), 'red car', 'img1', c, t FROM input, base
                )
                INSERT INTO relevance_pairs AS p (query, image, clicks, click_events, first_seen, last_seen)
                SELECT 'red car', 'img1', sum(c), count(*), min(t), max(t) FROM input
                ON CONFLICT (query, image) DO UPDATE SET
                    clicks = p.clicks + excluded.clicks, click_events = p.click_events + excluded.click_events,
                    first_seen = least(p.first_seen, excluded.first_seen),
                    last_seen = greatest(p.last_seen, excluded.last_seen), change_xid = pg_current_xact_id()
                """
            )
        }
    }

    /// A version (bootstrap without a parent, else a fine-tune) whose watermark is the snapshot now.
    func version(parent: Int64?) throws -> Int64 {
        try connection.query(
            """
            INSERT INTO model_versions (kind, parent, format_version, weights, sha256, watermark, training_window,
                                        hyperparameters, metrics, created_by)
            VALUES (CASE WHEN \(parent)::bigint IS NULL THEN 'bootstrap' ELSE 'finetune' END, \(parent), 1,
                    '\\x00', repeat('0', 64), pg_current_snapshot(), '{}', '{}', '{}', 'test')
            RETURNING version
            """
        )[0].decode(Int64.self, column: 0)
    }

    /// Activates `version` as ``ModelRegistry/activate(_:actor:reason:)`` does (the placeholder metadata of these
    /// versions would not decode as a full ``ModelVersion``, which the registry reads first).
    func activate(_ version: Int64) throws {
        try connection.execute(
            """
            INSERT INTO model_activations (version, previous_version, actor, reason)
            SELECT \(version), (SELECT version FROM model_activations ORDER BY id DESC LIMIT 1), 'test', 'test'
            """
        )
    }

    func count(_ sql: PostgresQuery) throws -> Int {
        try connection.query(sql)[0].decode(Int.self, column: 0)
    }

    func eventTimes() throws -> [Date] {
        try connection.query("SELECT event_time FROM click_events ORDER BY event_time").map {
            try $0.decode(Date.self, column: 0)
        }
    }

    func partitions() throws -> [String] {
        try connection.query("SELECT name FROM amc_click_event_partitions()").map {
            try $0.decode(String.self, column: 0)
        }
    }
}

func date(_ text: String) -> Date {
    ISO8601DateFormatter().date(from: text)!
}
