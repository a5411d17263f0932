import Foundation

/// One ranking a scoring worker returned, as recorded in `rankings` (see `Docs/online.md`).
public struct RankingRecord: Sendable, Hashable {
    /// The response's `ranking_id` (``RankingID``).
    public var id: String
    /// When the worker answered.
    public var servedAt: Date
    /// The version that produced the ranking.
    public var modelVersion: Int64
    /// The query, normalised as for scoring.
    public var query: String
    /// The image keys returned, best first.
    public var images: [String]
    /// The team of each position under interleaving (`teams[i]` ranked `images[i]`); nil for one version's ranking.
    public var teams: [String]?
    /// The online experiment the ranking belongs to; nil for ordinary traffic.
    public var experiment: Int64?
    /// For a shadow ranking: the id of the served ranking of the same request; nil otherwise.
    public var shadowOf: String?

    public init(
        id: String,
        servedAt: Date,
        modelVersion: Int64,
        query: String,
        images: [String],
        teams: [String]? = nil,
        experiment: Int64? = nil,
        shadowOf: String? = nil
    ) {
        precondition(teams == nil || teams?.count == images.count, "one team per position")
        self.id = id
        self.servedAt = servedAt
        self.modelVersion = modelVersion
        self.query = query
        self.images = images
        self.teams = teams
        self.experiment = experiment
        self.shadowOf = shadowOf
    }
}
