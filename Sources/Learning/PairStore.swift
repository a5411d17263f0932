import Foundation
import Postgres

/// One relevance pair as the learner reads it from `relevance_labels`.
public struct RelevancePair: Sendable, Hashable {
    /// The normalised query.
    public var query: String
    /// The image key.
    public var image: String
    /// Clicks accumulated for the pair.
    public var clicks: Int64
    /// The derived relevance (`Docs/relevance.md`).
    public var relevance: Double
    /// The derived 0–3 grade.
    public var grade: Int
    /// Whether the pair changed after the watermark it was read against (always true without a watermark).
    public var changed: Bool
    /// When its first and latest click happened.
    public var firstSeen: Date
    public var lastSeen: Date
    /// Clicks that arrived after the watermark (all clicks without a watermark).
    public var windowClicks: Int64
    /// The grade of the evidence that arrived after the watermark alone: the relevance formula over the window's
    /// clicks and click events, with the pair's skips pro rata (0 when nothing arrived).
    public var windowGrade: Int

    public init(
        query: String,
        image: String,
        clicks: Int64,
        relevance: Double,
        grade: Int,
        changed: Bool,
        firstSeen: Date,
        lastSeen: Date,
        windowClicks: Int64? = nil,
        windowGrade: Int? = nil
    ) {
        self.query = query
        self.image = image
        self.clicks = clicks
        self.relevance = relevance
        self.grade = grade
        self.changed = changed
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.windowClicks = windowClicks ?? clicks
        self.windowGrade = windowGrade ?? grade
    }
}

/// All pairs as of one snapshot, and that snapshot (the next watermark).
public struct PairSnapshot: Sendable {
    /// Every pair, with `changed` set relative to the watermark asked for.
    public var pairs: [RelevancePair]
    /// The `pg_snapshot` (text form `xmin:xmax:xip,…`) the pairs were read in.
    public var watermark: String
}

/// Reads relevance pairs for training.
///
/// Every ingest transaction stamps the pairs it changes with its transaction id (`change_xid`). Reading in one
/// repeatable-read snapshot and keeping that snapshot as the watermark makes "changed since the watermark"
/// exact: a pair changed by a transaction that was still running (or not yet started) when the watermark was
/// taken is not visible in it, whatever order ingest transactions commit in.
public struct PairStore: Sendable {
    private let connection: PostgresConnection

    /// The channel every statement that inserts or updates relevance pairs notifies (migration 0008), at the
    /// commit of its transaction: one notification per ingest batch. A following learner listens on it.
    public static let changeChannel = "amc_pairs_changed"

    /// - Parameter connection: A connection to a migrated database (not inside a transaction).
    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// The watermark of everything committed now: a version trained on the pairs as they are now records it, and
    /// ``read(changedSince:)`` with it marks only what changes afterwards.
    public func currentWatermark() throws -> String {
        try connection.query("SELECT pg_current_snapshot()::text")[0].decode(String.self, column: 0)
    }

    /// Reads every pair in one snapshot, marking those changed since `watermark` and summing the click events
    /// that arrived since (events carry the same transaction stamp as the pairs they changed).
    /// - Parameter watermark: A previous ``PairSnapshot/watermark``; nil marks every pair changed.
    public func read(changedSince watermark: String?) throws -> PairSnapshot {
        try connection.transaction { connection in
            try connection.execute(script: "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            let snapshot = try connection.query("SELECT pg_current_snapshot()::text")[0].decode(String.self, column: 0)
            let rows = try connection.query(
                """
                WITH recent AS (
                    SELECT query, image, sum(clicks)::bigint AS clicks, count(*)::bigint AS events
                    FROM click_events
                    WHERE change_xid >= pg_snapshot_xmin(\(watermark)::pg_snapshot)
                      AND NOT pg_visible_in_snapshot(change_xid, \(watermark)::pg_snapshot)
                    GROUP BY query, image
                )
                SELECT p.query, p.image, p.clicks, p.relevance, p.grade,
                       CASE WHEN \(watermark)::pg_snapshot IS NULL THEN true
                            ELSE NOT pg_visible_in_snapshot(p.change_xid, \(watermark)::pg_snapshot) END,
                       p.first_seen, p.last_seen,
                       CASE WHEN \(watermark)::pg_snapshot IS NULL THEN p.clicks ELSE coalesce(r.clicks, 0) END,
                       CASE WHEN \(watermark)::pg_snapshot IS NULL THEN p.grade
                            WHEN r.clicks IS NULL THEN 0
                            ELSE amc_grade(amc_relevance(r.clicks, r.events,
                                 round(p.skips::numeric * r.events / greatest(p.click_events, 1))::bigint)) END
                FROM relevance_labels p LEFT JOIN recent r ON r.query = p.query AND r.image = p.image
                ORDER BY p.query, p.image
                """
            )
            var pairs: [RelevancePair] = []
            pairs.reserveCapacity(rows.count)
            for row in rows {
                pairs.append(
                    RelevancePair(
                        query: try row.decode(String.self, column: 0),
                        image: try row.decode(String.self, column: 1),
                        clicks: try row.decode(Int64.self, column: 2),
                        relevance: try row.decode(Double.self, column: 3),
                        grade: try row.decode(Int.self, column: 4),
                        changed: try row.decode(Bool.self, column: 5),
                        firstSeen: try row.decode(Date.self, column: 6),
                        lastSeen: try row.decode(Date.self, column: 7),
                        windowClicks: try row.decode(Int64.self, column: 8),
                        windowGrade: try row.decode(Int.self, column: 9)
                    )
                )
            }
            return PairSnapshot(pairs: pairs, watermark: snapshot)
        }
    }

    /// Whether any pair changed after `watermark` (a ``PairSnapshot/watermark``).
    ///
    /// A pair changes only in a transaction that also lands a click event of its query (ingest, dead-letter
    /// replay), stamped alike, so this probes the events' stamp index instead of scanning the pairs.
    /// - Parameter watermark: A `pg_snapshot` in text form.
    public func hasChanges(since watermark: String) throws -> Bool {
        try connection.query(
            """
            SELECT EXISTS (SELECT 1 FROM click_events
                           WHERE change_xid >= pg_snapshot_xmin(\(watermark)::pg_snapshot)
                             AND NOT pg_visible_in_snapshot(change_xid, \(watermark)::pg_snapshot))
            """
        )[0].decode(Bool.self, column: 0)
    }

    /// The pairs of every query with click events after `watermark` — all of those queries' pairs, the clicked and
    /// the others (in-query negatives, held-out candidates) — in one snapshot, which becomes the next watermark;
    /// each marked, counted and graded as ``read(changedSince:)`` does.
    ///
    /// Its cost follows the window, not the table: the window's events are found through their stamp index (a
    /// pair changes only with an event of its query in the same transaction), its queries' pairs through the
    /// pairs' primary key.
    /// - Parameter watermark: A previous ``PairSnapshot/watermark``.
    /// - Returns: The snapshot, and how many aggregated event rows were read.
    public func readWindow(changedSince watermark: String) throws -> (snapshot: PairSnapshot, eventRows: Int) {
        try connection.transaction { connection in
            try connection.execute(script: "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            let snapshot = try connection.query("SELECT pg_current_snapshot()::text")[0].decode(String.self, column: 0)
            let events = try connection.query(
                """
                SELECT query, image, sum(clicks)::bigint, count(*)::bigint
                FROM click_events
                WHERE change_xid >= pg_snapshot_xmin(\(watermark)::pg_snapshot)
                  AND NOT pg_visible_in_snapshot(change_xid, \(watermark)::pg_snapshot)
                GROUP BY query, image
                """
            )
            var queries: [String] = []
            var images: [String] = []
            var clicks: [String] = []
            var counts: [String] = []
            for row in events {
                queries.append(try row.decode(String.self, column: 0))
                images.append(try row.decode(String.self, column: 1))
                clicks.append(String(try row.decode(Int64.self, column: 2)))
                counts.append(String(try row.decode(Int64.self, column: 3)))
            }
            let windowQueries = Array(Set(queries)).sorted()
            let rows = try connection.query(
                """
                SELECT p.query, p.image, p.clicks, p.relevance, p.grade,
                       NOT pg_visible_in_snapshot(p.change_xid, \(watermark)::pg_snapshot),
                       p.first_seen, p.last_seen, coalesce(r.clicks, 0),
                       CASE WHEN r.clicks IS NULL THEN 0
                            ELSE amc_grade(amc_relevance(r.clicks, r.events,
                                 round(p.skips::numeric * r.events / greatest(p.click_events, 1))::bigint)) END
                FROM relevance_labels p
                LEFT JOIN unnest(\(queries)::text[], \(images)::text[], \(clicks)::text[]::bigint[],
                                 \(counts)::text[]::bigint[]) AS r(query, image, clicks, events)
                       ON r.query = p.query AND r.image = p.image
                WHERE p.query = ANY(\(windowQueries)::text[])
                ORDER BY p.query, p.image
                """
            )
            return (PairSnapshot(pairs: try rows.map(Self.decodePair), watermark: snapshot), events.count)
        }
    }

    /// The pairs of these queries with their totals (``RelevancePair/changed`` false, no window evidence).
    /// - Parameter queries: Normalised queries.
    public func pairs(ofQueries queries: [String]) throws -> [RelevancePair] {
        guard !queries.isEmpty else { return [] }
        return try connection.query(
            """
            SELECT query, image, clicks, relevance, grade, false, first_seen, last_seen, 0::bigint, 0
            FROM relevance_labels WHERE query = ANY(\(queries)::text[])
            ORDER BY query, image
            """
        ).map(Self.decodePair)
    }

    /// Up to `limit` distinct queries after `after`, in key order, one primary-key index probe each (a loose index
    /// scan): reads `limit` keys however many pairs each query has.
    /// - Parameters:
    ///   - after: The last query of the previous page ("" for the first).
    ///   - limit: Most queries returned.
    public func queries(after: String, limit: Int) throws -> [String] {
        try connection.query(
            """
            WITH RECURSIVE next (query, n) AS (
                (SELECT query, 1 FROM relevance_pairs WHERE query > \(after) ORDER BY query LIMIT 1)
                UNION ALL
                SELECT (SELECT p.query FROM relevance_pairs p WHERE p.query > next.query ORDER BY p.query LIMIT 1),
                       n + 1
                FROM next WHERE next.query IS NOT NULL AND n < \(limit)
            )
            SELECT query FROM next WHERE query IS NOT NULL
            """
        ).map { try $0.decode(String.self, column: 0) }
    }

    private static func decodePair(_ row: PostgresRow) throws -> RelevancePair {
        RelevancePair(
            query: try row.decode(String.self, column: 0),
            image: try row.decode(String.self, column: 1),
            clicks: try row.decode(Int64.self, column: 2),
            relevance: try row.decode(Double.self, column: 3),
            grade: try row.decode(Int.self, column: 4),
            changed: try row.decode(Bool.self, column: 5),
            firstSeen: try row.decode(Date.self, column: 6),
            lastSeen: try row.decode(Date.self, column: 7),
            windowClicks: try row.decode(Int64.self, column: 8),
            windowGrade: try row.decode(Int.self, column: 9)
        )
    }

    /// The clicks of every pair of these queries.
    /// - Parameter queries: Normalised queries.
    /// - Returns: Clicks by query, then by image.
    public func clicks(queries: [String]) throws -> [String: [String: Int64]] {
        var result: [String: [String: Int64]] = [:]
        for row in try connection.query(
            "SELECT query, image, clicks FROM relevance_pairs WHERE query = ANY(\(queries))"
        ) {
            result[try row.decode(String.self, column: 0), default: [:]][try row.decode(String.self, column: 1)] =
                try row.decode(Int64.self, column: 2)
        }
        return result
    }

    /// The clicks of these images over all queries.
    /// - Parameter images: Image keys.
    /// - Returns: Clicks by image (images without pairs are missing).
    public func clicks(images: [String]) throws -> [String: Int64] {
        var result: [String: Int64] = [:]
        for row in try connection.query(
            "SELECT image, sum(clicks)::bigint FROM relevance_pairs WHERE image = ANY(\(images)) GROUP BY image"
        ) {
            result[try row.decode(String.self, column: 0)] = try row.decode(Int64.self, column: 1)
        }
        return result
    }
}
