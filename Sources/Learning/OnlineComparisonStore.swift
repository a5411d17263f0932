import Foundation
import Postgres

/// A shadow ranking and the served ranking of the same request.
public struct ShadowPair: Sendable, Hashable {
    /// When the request was served.
    public var servedAt: Date
    /// The version that served it.
    public var servedVersion: Int64
    /// The served ranking's images, best first.
    public var served: [String]
    /// The candidate's (shadow) ranking's images, best first.
    public var shadow: [String]
}

/// An interleaved ranking that received clicks.
public struct InterleavedImpression: Sendable, Hashable {
    /// The ranking id.
    public var ranking: String
    /// When it was served, and the active version that served it.
    public var servedAt: Date
    public var servedVersion: Int64
    /// The merged ranking and the team of each position.
    public var images: [String]
    public var teams: [String]
    /// The distinct images clicked on it.
    public var clicked: [String]
}

/// Reads what online experiments recorded (the experiments themselves are ``ExperimentStore``'s): shadow rankings paired with the served
/// ones (through `rankings.shadow_of`), and interleaved rankings with the images clicked on them (click events that
/// name the ranking, as `click_attributions` resolves them). Read by the learner and operators.
public struct OnlineComparisonStore: Sendable {
    /// How long before an experiment's start a click event's `event_time` may be and still be read: click times come
    /// from clients' clocks, and the bound lets the partitions of older months be skipped.
    public static let clickClockSkew = 86_400.0

    private let connection: PostgresConnection

    /// - Parameter connection: A session that reads `online_experiments`, `rankings` and `click_events`.
    public init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// The shadow rankings of an experiment paired with the served rankings they re-scored, in time order.
    /// - Parameter experiment: A shadow experiment.
    public func shadowPairs(of experiment: Int64) throws -> [ShadowPair] {
        try connection.query(
            """
            SELECT r.served_at, r.model_version, r.images, s.images
            FROM rankings s JOIN rankings r ON r.id = s.shadow_of
            WHERE s.experiment = \(experiment) AND s.shadow_of IS NOT NULL
            ORDER BY r.served_at, r.id
            """
        ).map { row in
            ShadowPair(
                servedAt: try row.decode(Date.self, column: 0),
                servedVersion: try row.decode(Int64.self, column: 1),
                served: try row.decode([String].self, column: 2),
                shadow: try row.decode([String].self, column: 3)
            )
        }
    }

    /// How many interleaved rankings an experiment served (with clicks or not).
    /// - Parameter experiment: An interleaving experiment.
    public func interleavedRankings(of experiment: Int64) throws -> Int {
        try connection.query(
            "SELECT count(*) FROM rankings WHERE experiment = \(experiment) AND teams IS NOT NULL"
        ).first?.decode(Int.self, column: 0) ?? 0
    }

    /// The interleaved rankings of an experiment that received at least one click, in the order they were served.
    /// - Parameters:
    ///   - experiment: An interleaving experiment.
    ///   - startedAt: When it started: clicks with an `event_time` more than ``clickClockSkew`` before are not read.
    ///   - servedBy: Only rankings merged against this active version (nil: all).
    public func interleavedImpressions(
        of experiment: Int64,
        startedAt: Date,
        servedBy: Int64? = nil
    ) throws -> [InterleavedImpression] {
        try connection.query(
            """
            SELECT r.id::text, r.served_at, r.model_version, r.images, r.teams, array_agg(DISTINCT e.image ORDER BY e.image)
            FROM rankings r
            JOIN click_events e ON amc_ranking_id(e.ranking) = r.id
            WHERE r.experiment = \(experiment) AND r.teams IS NOT NULL
              AND (\(servedBy)::bigint IS NULL OR r.model_version = \(servedBy))
              AND e.ranking IS NOT NULL AND e.event_time >= \(startedAt.addingTimeInterval(-Self.clickClockSkew))
            GROUP BY r.id
            ORDER BY r.served_at, r.id
            """
        ).map { row in
            InterleavedImpression(
                ranking: try row.decode(String.self, column: 0),
                servedAt: try row.decode(Date.self, column: 1),
                servedVersion: try row.decode(Int64.self, column: 2),
                images: try row.decode([String].self, column: 3),
                teams: try row.decode([String].self, column: 4),
                clicked: try row.decode([String].self, column: 5)
            )
        }
    }
}
