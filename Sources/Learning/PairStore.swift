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

    /// - Parameter connection: A connection to a migrated database (not inside a transaction).
    public init(connection: PostgresConnection) {
        self.connection = connection
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
    /// - Parameter watermark: A `pg_snapshot` in text form.
    public func hasChanges(since watermark: String) throws -> Bool {
        try connection.query(
            """
            SELECT EXISTS (SELECT 1 FROM relevance_pairs
                           WHERE NOT pg_visible_in_snapshot(change_xid, \(watermark)::pg_snapshot))
            """
        )[0].decode(Bool.self, column: 0)
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
