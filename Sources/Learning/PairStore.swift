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
    /// Clicks that arrived after the watermark (all clicks for a pair read with its totals).
    public var windowClicks: Int64
    /// The grade of the recent evidence alone (``PairStore/readWindow(changedSince:evidenceSince:)``): the relevance
    /// formula over the recent clicks, click events and passed-over views (0 when none clicked it); the total grade
    /// for a pair read with its totals.
    public var recentGrade: Int
    /// Recent page views that showed the image above a click of the query and did not click it: users examined it
    /// and passed it over (0 for a pair read with its totals).
    public var recentPassedOver: Int64
    /// Whether the recent events of its query say what they showed (JSON click events with impressions and a
    /// position). Without them (the Clickture triad form) nobody knows which images users saw.
    public var recentViewsKnown: Bool

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
        recentGrade: Int? = nil,
        recentPassedOver: Int64 = 0,
        recentViewsKnown: Bool = false
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
        self.recentGrade = recentGrade ?? grade
        self.recentPassedOver = recentPassedOver
        self.recentViewsKnown = recentViewsKnown
    }
}

extension RelevancePair {
    /// Whether recent page views examined the image for its query: clicked it, or passed it over to click one
    /// below it. When its query's recent events do not say what they showed (``recentViewsKnown``), every pair of
    /// the query counts: the images its clicks were ever on are the only record of what users saw.
    public var wasRecentlyExamined: Bool { !recentViewsKnown || recentGrade > 0 || recentPassedOver > 0 }
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
    /// ``readWindow(changedSince:evidenceSince:)`` with it reads only what changes afterwards.
    public func currentWatermark() throws -> String {
        try connection.query("SELECT pg_current_snapshot()::text")[0].decode(String.self, column: 0)
    }

    /// Reads every pair in one snapshot (a bootstrap's data): each marked changed, its totals as its recent
    /// evidence.
    public func readAll() throws -> PairSnapshot {
        try connection.transaction { connection in
            try connection.execute(script: "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            let snapshot = try connection.query("SELECT pg_current_snapshot()::text")[0].decode(String.self, column: 0)
            let pairs = try connection.query(
                """
                SELECT query, image, clicks, relevance, grade, true, first_seen, last_seen, clicks, grade, 0::bigint
                FROM relevance_labels ORDER BY query, image
                """
            ).map(Self.decodePair)
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
    /// the others (in-query negatives, held-out candidates) — in one snapshot, which becomes the next watermark.
    ///
    /// Each pair is marked changed when its stamp is not visible in `watermark`, counts the clicks that arrived
    /// after it (``RelevancePair/windowClicks``), and is graded by the **recent evidence** of its query: the events
    /// after `horizon` or after `watermark`, whichever reaches further back (``RelevancePair/recentGrade``,
    /// ``RelevancePair/recentPassedOver``). Passed over means shown above a click of the query in the same page
    /// view and not clicked in it; a view is the event's ranking id, else its session, and an event with neither
    /// is a view of its own.
    ///
    /// Its cost follows the window and the horizon, not the table: the events are found through their stamp index
    /// (a pair changes only with an event of its query in the same transaction), the queries' pairs through the
    /// pairs' primary key.
    /// - Parameters:
    ///   - watermark: A previous ``PairSnapshot/watermark``: what the window starts after.
    ///   - horizon: An earlier ``PairSnapshot/watermark`` the recent evidence starts after; nil: the window's.
    /// - Returns: The snapshot, and how many aggregated event rows were read.
    public func readWindow(
        changedSince watermark: String,
        evidenceSince horizon: String? = nil
    ) throws -> (snapshot: PairSnapshot, eventRows: Int) {
        let horizon = horizon ?? watermark
        return try connection.transaction { connection in
            try connection.execute(script: "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            let snapshot = try connection.query("SELECT pg_current_snapshot()::text")[0].decode(String.self, column: 0)
            // The recent events of the window's queries, per pair: clicks and events of the clicked pairs (and the
            // clicks in the window), and the page views that showed an image above a click of the query without
            // it being clicked in that view (examined and passed over). A view is the event's ranking, else its
            // session; an event with neither is a view of its own.
            let events = try connection.query(
                """
                WITH recent AS MATERIALIZED (
                    SELECT query, image, clicks, position, impressions, coalesce(ranking, session) AS view,
                           NOT pg_visible_in_snapshot(change_xid, \(watermark)::pg_snapshot) AS in_window
                    FROM click_events
                    WHERE change_xid >= least(pg_snapshot_xmin(\(horizon)::pg_snapshot),
                                              pg_snapshot_xmin(\(watermark)::pg_snapshot))
                      AND (NOT pg_visible_in_snapshot(change_xid, \(horizon)::pg_snapshot)
                           OR NOT pg_visible_in_snapshot(change_xid, \(watermark)::pg_snapshot))
                ), e AS MATERIALIZED (
                    SELECT * FROM recent WHERE query IN (SELECT query FROM recent WHERE in_window)
                ), clicked AS (
                    SELECT query, image, sum(clicks)::bigint AS clicks, count(*)::bigint AS events,
                           (sum(clicks) FILTER (WHERE in_window))::bigint AS window_clicks
                    FROM e GROUP BY query, image
                ), passed AS (
                    SELECT e.query, s.image,
                           (count(DISTINCT e.view) + count(*) FILTER (WHERE e.view IS NULL))::bigint AS views
                    FROM e CROSS JOIN LATERAL unnest(e.impressions[1:e.position]) AS s(image)
                    WHERE s.image <> e.image
                      AND NOT EXISTS (SELECT 1 FROM e AS c
                                      WHERE c.view = e.view AND c.query = e.query AND c.image = s.image)
                    GROUP BY e.query, s.image
                ), shown AS (
                    SELECT query, bool_or(impressions IS NOT NULL AND position IS NOT NULL) AS known
                    FROM e GROUP BY query
                )
                SELECT coalesce(c.query, p.query), coalesce(c.image, p.image), coalesce(c.clicks, 0),
                       coalesce(c.events, 0), coalesce(p.views, 0), coalesce(c.window_clicks, 0), v.known
                FROM clicked c FULL JOIN passed p ON p.query = c.query AND p.image = c.image
                JOIN shown v ON v.query = coalesce(c.query, p.query)
                """
            )
            var queries: [String] = []
            var images: [String] = []
            var clicks: [String] = []
            var counts: [String] = []
            var passedOver: [String] = []
            var windowClicks: [String] = []
            var viewsKnown: Set<String> = []
            for row in events {
                queries.append(try row.decode(String.self, column: 0))
                images.append(try row.decode(String.self, column: 1))
                clicks.append(String(try row.decode(Int64.self, column: 2)))
                counts.append(String(try row.decode(Int64.self, column: 3)))
                passedOver.append(String(try row.decode(Int64.self, column: 4)))
                windowClicks.append(String(try row.decode(Int64.self, column: 5)))
                if try row.decode(Bool.self, column: 6) { viewsKnown.insert(queries[queries.count - 1]) }
            }
            let windowQueries = Array(Set(queries)).sorted()
            let rows = try connection.query(
                """
                SELECT p.query, p.image, p.clicks, p.relevance, p.grade,
                       NOT pg_visible_in_snapshot(p.change_xid, \(watermark)::pg_snapshot),
                       p.first_seen, p.last_seen, coalesce(r.window_clicks, 0),
                       CASE WHEN coalesce(r.clicks, 0) = 0 THEN 0
                            ELSE amc_grade(amc_relevance(r.clicks, r.events, r.passed)) END,
                       coalesce(r.passed, 0)
                FROM relevance_labels p
                LEFT JOIN unnest(\(queries)::text[], \(images)::text[], \(clicks)::text[]::bigint[],
                                 \(counts)::text[]::bigint[], \(passedOver)::text[]::bigint[],
                                 \(windowClicks)::text[]::bigint[])
                       AS r(query, image, clicks, events, passed, window_clicks)
                       ON r.query = p.query AND r.image = p.image
                WHERE p.query = ANY(\(windowQueries)::text[])
                ORDER BY p.query, p.image
                """
            )
            let pairs = try rows.map { row in
                var pair = try Self.decodePair(row)
                pair.recentViewsKnown = viewsKnown.contains(pair.query)
                return pair
            }
            return (PairSnapshot(pairs: pairs, watermark: snapshot), events.count)
        }
    }

    /// The pairs of these queries with their totals (``RelevancePair/changed`` false, no window evidence).
    /// - Parameter queries: Normalised queries.
    public func pairs(ofQueries queries: [String]) throws -> [RelevancePair] {
        guard !queries.isEmpty else { return [] }
        return try connection.query(
            """
            SELECT query, image, clicks, relevance, grade, false, first_seen, last_seen, 0::bigint, 0, 0::bigint
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
            recentGrade: try row.decode(Int.self, column: 9),
            recentPassedOver: try row.decode(Int64.self, column: 10)
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
