import Foundation
import Postgres

/// An online experiment of a candidate, as `amc model compare` lists it.
public struct OnlineExperiment: Sendable, Hashable, Codable {
    /// The experiment's id.
    public var id: Int64
    /// `shadow` or `interleave`.
    public var kind: String
    /// The share of requests (shadow's sample, interleaving's share).
    public var share: Double
    /// When it started, and who started it and why.
    public var startedAt: Date
    public var startedBy: String
    public var reason: String
    /// When it stopped, who stopped it and why; nil while it runs.
    public var stoppedAt: Date?
    public var stoppedBy: String?
    public var stopReason: String?
}

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

/// Reads what online experiments recorded: the experiments of a candidate, shadow rankings paired with the served
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

    /// Every experiment of a candidate version, oldest first.
    /// - Parameter candidate: The version.
    public func experiments(of candidate: Int64) throws -> [OnlineExperiment] {
        try connection.query(
            """
            SELECT id, kind, share, started_at, started_by, reason, stopped_at, stopped_by, stop_reason
            FROM online_experiments WHERE candidate_version = \(candidate) ORDER BY id
            """
        ).map { row in
            OnlineExperiment(
                id: try row.decode(Int64.self, column: 0),
                kind: try row.decode(String.self, column: 1),
                share: try row.decode(Double.self, column: 2),
                startedAt: try row.decode(Date.self, column: 3),
                startedBy: try row.decode(String.self, column: 4),
                reason: try row.decode(String.self, column: 5),
                stoppedAt: try row.decode(Date?.self, column: 6),
                stoppedBy: try row.decode(String?.self, column: 7),
                stopReason: try row.decode(String?.self, column: 8)
            )
        }
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
