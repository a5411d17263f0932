import Postgres

/// Appends rankings to `rankings` (one `COPY` per batch). Workers only append; `amc retention` removes old ones.
public struct RankingStore: Sendable {
    private let connection: PostgresConnection

    /// - Parameter connection: A connection to a migrated database, with `INSERT` on `rankings`.
    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// Writes `records` in one statement (all or none).
    /// - Throws: ``PostgresError`` when the database refuses the batch or the connection fails.
    public func insert(_ records: [RankingRecord]) throws {
        guard !records.isEmpty else { return }
        _ = try connection.copyIn(
            "COPY rankings (id, served_at, model_version, query, images, teams, experiment, shadow_of) FROM STDIN"
        ) { writer in
            for record in records {
                writer.append(record.id)
                writer.append(Self.text(record.servedAt.postgresValue))
                writer.append(record.modelVersion)
                writer.append(record.query)
                writer.append(Self.text(record.images.postgresValue))
                writer.append(record.teams.flatMap { Self.text($0.postgresValue) })
                writer.append(record.experiment.map(String.init))
                writer.append(record.shadowOf)
                writer.endRow()
            }
        }
    }

    /// The text form of a bindable value (timestamps and `text[]` literals are text).
    private static func text(_ value: PostgresValue) -> String? {
        if case .text(let text) = value { return text }
        return nil
    }
}
