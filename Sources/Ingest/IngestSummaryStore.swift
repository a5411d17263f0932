import Postgres

/// What ingest has landed, summarised for reports (`amc demo`): counts, refusals by reason, partition positions,
/// and the strongest and most skipped pairs.
public struct IngestSummaryStore: Sendable {
    private let connection: PostgresConnection

    /// - Parameter connection: A connection to a migrated database.
    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// What ingest has landed: rows in `click_events`, `dead_letters`, `ingest_gaps` and `relevance_pairs`, and the
    /// clicks summed over the pairs.
    public func counts() throws -> IngestCounts {
        let row = try connection.query(
            """
            SELECT (SELECT count(*) FROM click_events), (SELECT count(*) FROM dead_letters),
                   (SELECT count(*) FROM ingest_gaps), (SELECT count(*) FROM relevance_pairs),
                   (SELECT coalesce(sum(clicks), 0)::bigint FROM relevance_pairs)
            """
        )[0]
        return IngestCounts(
            events: try row.decode(Int.self, column: 0),
            deadLetters: try row.decode(Int.self, column: 1),
            gaps: try row.decode(Int.self, column: 2),
            pairs: try row.decode(Int.self, column: 3),
            clicks: try row.decode(Int.self, column: 4)
        )
    }

    /// The stored consumer positions over every group, topic and partition: how many partitions have one, and the
    /// sum of their next offsets (the messages committed so far, when every partition started at 0).
    public func storedOffsets() throws -> (partitions: Int, nextOffsetTotal: Int) {
        let row = try connection.query("SELECT count(*), coalesce(sum(next_offset), 0)::bigint FROM ingest_offsets")[0]
        return (try row.decode(Int.self, column: 0), try row.decode(Int.self, column: 1))
    }

    /// Dead letters by reason code, most frequent first, each with one example reason.
    public func deadLetterReasons() throws -> [(reason: String, count: Int, example: String)] {
        try connection.query(
            "SELECT reason_code, count(*), min(reason) FROM dead_letters GROUP BY reason_code ORDER BY 2 DESC, 1"
        ).map {
            (
                try $0.decode(String.self, column: 0), try $0.decode(Int.self, column: 1),
                try $0.decode(String.self, column: 2)
            )
        }
    }

    /// The stored next offset of every partition of `topic` (all consumer groups), by partition.
    /// - Parameter topic: The topic.
    public func nextOffsets(topic: String) throws -> [(partition: Int32, next: Int64)] {
        try connection.query(
            "SELECT partition, next_offset FROM ingest_offsets WHERE topic = \(topic) ORDER BY partition"
        ).map { (try $0.decode(Int32.self, column: 0), try $0.decode(Int64.self, column: 1)) }
    }

    /// The most relevant pairs (ties by query).
    /// - Parameter limit: How many.
    public func mostRelevantPairs(
        limit: Int
    ) throws -> [(query: String, image: String, clicks: Int64, relevance: Double, grade: Int)] {
        try connection.query(
            """
            SELECT query, image, clicks, relevance, grade FROM relevance_labels
            ORDER BY relevance DESC, query LIMIT \(limit)
            """
        ).map {
            (
                try $0.decode(String.self, column: 0), try $0.decode(String.self, column: 1),
                try $0.decode(Int64.self, column: 2), try $0.decode(Double.self, column: 3),
                try $0.decode(Int.self, column: 4)
            )
        }
    }

    /// The most skipped pairs (ties by query).
    /// - Parameter limit: How many.
    public func mostSkippedPairs(limit: Int) throws -> [(query: String, image: String, skips: Int64, relevance: Double)]
    {
        try connection.query(
            """
            SELECT query, image, skips, relevance FROM relevance_labels WHERE skips > 0
            ORDER BY skips DESC, query LIMIT \(limit)
            """
        ).map {
            (
                try $0.decode(String.self, column: 0), try $0.decode(String.self, column: 1),
                try $0.decode(Int64.self, column: 2), try $0.decode(Double.self, column: 3)
            )
        }
    }
}

/// Row counts of what ingest has landed (``IngestSummaryStore/counts()``).
public struct IngestCounts: Sendable, Hashable {
    /// Rows in `click_events`.
    public var events: Int
    /// Rows in `dead_letters`.
    public var deadLetters: Int
    /// Rows in `ingest_gaps` (offset ranges that will never arrive).
    public var gaps: Int
    /// Rows in `relevance_pairs`.
    public var pairs: Int
    /// Clicks summed over the pairs.
    public var clicks: Int
}
