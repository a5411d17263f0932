import Postgres

/// What ingest has landed, summarised for reports (`amc demo`): counts, refusals by reason, partition positions,
/// and the strongest and most skipped pairs.
public struct IngestSummaryStore: Sendable {
    private let connection: PostgresConnection

    /// - Parameter connection: A connection to a migrated database.
    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// Rows in `click_events`, `relevance_pairs` and `ingest_gaps`.
    public func counts() throws -> (events: Int, pairs: Int, gaps: Int) {
        let row = try connection.query(
            """
            SELECT (SELECT count(*) FROM click_events), (SELECT count(*) FROM relevance_pairs),
                   (SELECT count(*) FROM ingest_gaps)
            """
        )[0]
        return (
            try row.decode(Int.self, column: 0), try row.decode(Int.self, column: 1),
            try row.decode(Int.self, column: 2)
        )
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
