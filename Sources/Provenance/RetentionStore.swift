import Foundation
import Postgres

/// What `amc retention` is asked to do.
public struct RetentionPolicy: Sendable, Hashable {
    /// How long events are kept, as given (`180d`): recorded with the run.
    public var keep: String
    /// The same, in seconds.
    public var keepSeconds: TimeInterval
    /// Monthly partitions created ahead of the current month, so new events never land in the DEFAULT partition.
    public var monthsAhead: Int
    /// The time the run counts back from.
    public var now: Date

    /// - Parameters:
    ///   - keep: How long events are kept, as given (recorded).
    ///   - keepSeconds: The same, in seconds (at least 0).
    ///   - monthsAhead: Partitions created ahead of the current month (at least 0).
    ///   - now: The time the run counts back from.
    public init(keep: String, keepSeconds: TimeInterval, monthsAhead: Int, now: Date = Date()) {
        precondition(keepSeconds >= 0 && monthsAhead >= 0, "keep and monthsAhead must not be negative")
        self.keep = keep
        self.keepSeconds = keepSeconds
        self.monthsAhead = monthsAhead
        self.now = now
    }

    /// `now − keep`: the cutoff before any protection.
    public var requestedCutoff: Date { now.addingTimeInterval(-keepSeconds) }
}

/// The oldest event still needed for audit, and why.
public struct RetentionProtection: Sendable, Hashable, Codable {
    /// The earliest event time that must stay (partitions ending after it are kept).
    public var from: Date
    /// The version whose events set it.
    public var version: Int64
    /// What about that version needs the events, in words.
    public var reason: String
}

/// One monthly partition `amc retention` removed (or would remove, in a dry run).
public struct RetentionDroppedPartition: Sendable, Hashable, Codable {
    public var name: String
    /// Its range `[from, to)` of event times.
    public var from: Date
    public var to: Date
    /// Events it held.
    public var events: Int64
}

/// The outcome of one `amc retention` run.
public struct RetentionReport: Sendable, Hashable, Codable {
    /// The `retention_runs` row; nil for a dry run (not recorded).
    public var run: Int64?
    public var dryRun: Bool
    public var keep: String
    public var requestedCutoff: Date
    /// The cutoff applied: the earlier of `requestedCutoff` and the protected boundary. Only partitions whose
    /// whole range ends at or before it are removed.
    public var cutoff: Date
    /// Whether protection moved the cutoff earlier than `requestedCutoff`.
    public var heldBack: Bool
    /// The protected boundary; nil when no version needs any stored event.
    public var protected: RetentionProtection?
    /// Partitions created (ahead of time, and for the months of rows that were in DEFAULT).
    public var partitionsCreated: [String]
    /// Partitions removed, oldest first.
    public var partitionsDropped: [RetentionDroppedPartition]
    /// Events removed (the sum over `partitionsDropped`).
    public var eventsRemoved: Int64
    /// The end of the newest removed range: no event before it is kept. Nil when nothing was removed.
    public var removedBefore: Date?
    /// Recorded rankings (`rankings`) served before ``rankingsCutoff`` that were (or would be) removed.
    public var rankingsRemoved: Int64 = 0
    /// Rankings served before it are removed: a day before the earlier of ``cutoff`` and the start of the oldest
    /// event partition kept, so every stored click keeps the ranking it names (clicks follow their ranking within
    /// a day).
    public var rankingsCutoff: Date? = nil
}

/// Retention of `click_events` (see `Docs/retention.md`): creates monthly partitions ahead of time, moves stray rows
/// out of the DEFAULT partition, and removes whole monthly partitions older than the cutoff — never an event that
/// the audit of a protected version needs — and removes the recorded rankings (`rankings`) served before the oldest
/// kept events. Every non-dry run is recorded in the append-only `retention_runs`.
///
/// Protected versions are the active version and every version activated within the keep period (a rollback
/// target keeps its audit). A version's window is the events changed after its parent's watermark and visible in
/// its own (for a bootstrap: every event visible in its watermark); for the active version, the events changed
/// after its watermark (the next fine-tune's window) are protected too. The boundary is the earliest event time
/// among all of them.
public struct RetentionStore: Sendable {
    private let connection: PostgresConnection

    /// - Parameter connection: A connection to a migrated database (not inside a transaction).
    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// Applies `policy` (or, with `dryRun`, works out what it would do without changing anything).
    ///
    /// One transaction. A real run first locks `click_events` against writes (ingest waits for the few
    /// statements of the run) and `model_activations` against activations, so neither a late event nor a rollback
    /// can slip between deciding the boundary and removing partitions. A dry run takes no such lock.
    /// - Parameters:
    ///   - policy: Keep period, months ahead and the time to count from.
    ///   - dryRun: Only report.
    ///   - actor: Who ran it (recorded).
    /// - Returns: What was (or would be) created and removed, and what held the cutoff back.
    public func run(_ policy: RetentionPolicy, dryRun: Bool, actor: String) throws -> RetentionReport {
        try connection.transaction { connection in
            if !dryRun {
                try connection.execute(
                    script: """
                        LOCK TABLE click_events IN SHARE ROW EXCLUSIVE MODE;
                        LOCK TABLE model_activations IN SHARE MODE
                        """
                )
            }
            let created = try dryRun ? missingPartitions(policy, connection) : createPartitions(policy, connection)
            let protection = try protectedBoundary(policy, connection)
            let requested = policy.requestedCutoff
            let cutoff = protection.map { min($0.from, requested) } ?? requested
            let dropped =
                try dryRun ? partitionsOlder(than: cutoff, connection) : dropPartitions(olderThan: cutoff, connection)
            var report = RetentionReport(
                dryRun: dryRun,
                keep: policy.keep,
                requestedCutoff: requested,
                cutoff: cutoff,
                heldBack: cutoff < requested,
                protected: protection,
                partitionsCreated: created,
                partitionsDropped: dropped,
                eventsRemoved: dropped.reduce(0) { $0 + $1.events },
                removedBefore: dropped.map(\.to).max()
            )
            report.rankingsCutoff = try rankingsCutoff(eventCutoff: cutoff, dropped: dropped, connection)
            report.rankingsRemoved =
                try dryRun
                ? countRankings(servedBefore: report.rankingsCutoff!, connection)
                : removeRankings(servedBefore: report.rankingsCutoff!, connection)
            if !dryRun { report.run = try record(report, actor: actor, connection) }
            return report
        }
    }

    // MARK: - Partitions

    /// Creates this month's and the next `monthsAhead` months' partitions, then empties DEFAULT into monthly ones.
    private func createPartitions(_ policy: RetentionPolicy, _ connection: PostgresConnection) throws -> [String] {
        let ahead = try connection.query(
            "SELECT amc_ensure_click_event_partitions(\(policy.now), \(policy.monthsAhead + 1)::integer)"
        ).map { try $0.decode(String.self, column: 0) }
        let drained = try connection.query("SELECT amc_drain_click_events_default()").map {
            try $0.decode(String.self, column: 0)
        }
        return ahead + drained
    }

    /// The partitions ``createPartitions(_:_:)`` would create.
    private func missingPartitions(_ policy: RetentionPolicy, _ connection: PostgresConnection) throws -> [String] {
        try connection.query(
            """
            WITH months AS (
                SELECT generate_series(date_trunc('month', \(policy.now)::timestamptz AT TIME ZONE 'UTC'),
                                       date_trunc('month', \(policy.now)::timestamptz AT TIME ZONE 'UTC')
                                           + \(policy.monthsAhead)::integer * interval '1 month',
                                       interval '1 month') AT TIME ZONE 'UTC' AS month
                UNION
                SELECT date_trunc('month', event_time, 'UTC') FROM click_events_default
            )
            SELECT amc_click_event_partition_name(month) FROM months
            WHERE to_regclass(quote_ident(amc_click_event_partition_name(month))) IS NULL
            ORDER BY month
            """
        ).map { try $0.decode(String.self, column: 0) }
    }

    /// Removes every monthly partition whose whole range ends at or before `cutoff`.
    private func dropPartitions(
        olderThan cutoff: Date,
        _ connection: PostgresConnection
    ) throws -> [RetentionDroppedPartition] {
        try connection.query(
            """
            SELECT name, range_start, range_end, amc_drop_click_event_partition(name)
            FROM (SELECT * FROM amc_click_event_partitions() WHERE range_end <= \(cutoff) ORDER BY range_start) AS old
            """
        ).map(Self.decodeDropped)
    }

    /// The partitions ``dropPartitions(olderThan:_:)`` would remove, including those the DEFAULT partition's rows
    /// would first be moved into.
    private func partitionsOlder(
        than cutoff: Date,
        _ connection: PostgresConnection
    ) throws -> [RetentionDroppedPartition] {
        try connection.query(
            """
            SELECT name, range_start, range_end,
                   (SELECT count(*) FROM click_events WHERE event_time >= range_start AND event_time < range_end)
            FROM (
                SELECT name, range_start, range_end FROM amc_click_event_partitions()
                UNION
                SELECT amc_click_event_partition_name(month), month,
                       ((month AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC'
                FROM (SELECT DISTINCT date_trunc('month', event_time, 'UTC') AS month FROM click_events_default) AS d
            ) AS p
            WHERE range_end <= \(cutoff)
            ORDER BY range_start
            """
        ).map(Self.decodeDropped)
    }

    private static func decodeDropped(_ row: PostgresRow) throws -> RetentionDroppedPartition {
        RetentionDroppedPartition(
            name: try row.decode(String.self, column: 0),
            from: try row.decode(Date.self, column: 1),
            to: try row.decode(Date.self, column: 2),
            events: try row.decode(Int64.self, column: 3)
        )
    }

    // MARK: - Rankings

    /// A day before the earlier of `eventCutoff` and the oldest event partition that stays.
    private func rankingsCutoff(
        eventCutoff: Date,
        dropped: [RetentionDroppedPartition],
        _ connection: PostgresConnection
    ) throws -> Date {
        let droppedNames = dropped.map(\.name)
        // A dry run has not moved the DEFAULT partition's rows into their months yet: its months that stay count too.
        let oldestKept = try connection.query(
            """
            SELECT least(
                (SELECT min(range_start) FROM amc_click_event_partitions() WHERE NOT (name = ANY(\(droppedNames)))),
                (SELECT min(month) FROM (SELECT DISTINCT date_trunc('month', event_time, 'UTC') AS month
                                         FROM click_events_default) AS d
                 WHERE ((month AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC' > \(eventCutoff)))
            """
        )[0].decode(Date?.self, column: 0)
        return min(eventCutoff, oldestKept ?? eventCutoff).addingTimeInterval(-86_400)
    }

    private func countRankings(servedBefore cutoff: Date, _ connection: PostgresConnection) throws -> Int64 {
        try connection.query("SELECT count(*) FROM rankings WHERE served_at < \(cutoff)")[0]
            .decode(Int64.self, column: 0)
    }

    private func removeRankings(servedBefore cutoff: Date, _ connection: PostgresConnection) throws -> Int64 {
        Int64(try connection.execute("DELETE FROM rankings WHERE served_at < \(cutoff)"))
    }

    // MARK: - Protection

    /// The earliest event time a protected version's audit needs, with the version that needs it; nil when none
    /// needs any stored event.
    private func protectedBoundary(
        _ policy: RetentionPolicy,
        _ connection: PostgresConnection
    ) throws -> RetentionProtection? {
        let active = try connection.query("SELECT version FROM model_activations ORDER BY id DESC LIMIT 1").first?
            .decode(Int64.self, column: 0)
        guard let active else { return nil }
        let recent = try connection.query(
            """
            SELECT DISTINCT version FROM model_activations
            WHERE activated_at >= \(policy.requestedCutoff) AND version <> \(active) ORDER BY version
            """
        ).map { try $0.decode(Int64.self, column: 0) }
        var found: [RetentionProtection] = []
        for version in [active] + recent {
            let row = try connection.query(
                """
                SELECT v.kind, v.watermark::text, p.watermark::text FROM model_versions v
                LEFT JOIN model_versions p ON p.version = v.parent WHERE v.version = \(version)
                """
            )[0]
            let kind = try row.decode(String.self, column: 0)
            let watermark = try row.decode(String.self, column: 1)
            let since = try row.decode(String?.self, column: 2)
            let role = version == active ? "the active version" : "activated within the keep period"
            if let from = try earliestEvent(after: since, upTo: watermark, connection) {
                let window =
                    kind == "bootstrap"
                    ? "every event it was trained on (a bootstrap's window is all events up to its watermark)"
                    : "the events of its training window (changed after its parent's watermark)"
                found.append(RetentionProtection(from: from, version: version, reason: "\(role): \(window)"))
            }
            if version == active, let from = try earliestEvent(after: watermark, upTo: nil, connection) {
                found.append(
                    RetentionProtection(
                        from: from,
                        version: version,
                        reason: "the active version: events changed after its watermark (the next fine-tune's window)"
                    )
                )
            }
        }
        // The earliest; on a tie, the first found (the active version's own window).
        return found.min { $0.from < $1.from }
    }

    /// The earliest event time among events changed after snapshot `since` (nil: from the beginning) and visible in
    /// snapshot `until` (nil: up to now).
    private func earliestEvent(
        after since: String?,
        upTo until: String?,
        _ connection: PostgresConnection
    ) throws -> Date? {
        try connection.query(
            """
            SELECT min(event_time) FROM click_events
            WHERE (\(since)::pg_snapshot IS NULL
                   OR (change_xid >= pg_snapshot_xmin(\(since)::pg_snapshot)
                       AND NOT pg_visible_in_snapshot(change_xid, \(since)::pg_snapshot)))
              AND (\(until)::pg_snapshot IS NULL
                   OR (change_xid < pg_snapshot_xmax(\(until)::pg_snapshot)
                       AND pg_visible_in_snapshot(change_xid, \(until)::pg_snapshot)))
            """
        )[0].decode(Date?.self, column: 0)
    }

    // MARK: - Record

    private func record(_ report: RetentionReport, actor: String, _ connection: PostgresConnection) throws -> Int64 {
        try connection.query(
            """
            INSERT INTO retention_runs (actor, keep, requested_cutoff, cutoff, protected_from, protected_by_version,
                                        protected_reason, partitions_created, partitions_dropped, events_removed,
                                        removed_before, rankings_removed)
            VALUES (\(actor), \(report.keep), \(report.requestedCutoff), \(report.cutoff), \(report.protected?.from),
                    \(report.protected?.version), \(report.protected?.reason), \(report.partitionsCreated),
                    \(report.partitionsDropped.map(\.name)), \(report.eventsRemoved), \(report.removedBefore),
                    \(report.rankingsRemoved))
            RETURNING id
            """
        )[0].decode(Int64.self, column: 0)
    }
}
