/// Ranking quality averaged over labelled queries (definitions in `Docs/evaluation.md`).
///
/// Every field is a mean over the queries that have at least one relevant image (gain > 0); queries without
/// one are excluded from every mean and from ``queries``. ``auc`` is averaged over the subset of those that
/// also have at least one irrelevant image (0 when there are none).
public struct RankingMetrics: Sendable, Hashable, Codable {
    /// Mean NDCG at cut-off 5.
    public var ndcg5: Double
    /// Mean NDCG at cut-off 10.
    public var ndcg10: Double
    /// Mean NDCG at cut-off 15.
    public var ndcg15: Double
    /// Mean NDCG at cut-off 20.
    public var ndcg20: Double
    /// Mean NDCG at cut-off 25.
    public var ndcg25: Double
    /// Mean precision at 5 (relevant images in the top 5, divided by 5).
    public var precision5: Double
    /// Mean average precision (MAP).
    public var meanAveragePrecision: Double
    /// Mean reciprocal rank of the first relevant image (MRR).
    public var meanReciprocalRank: Double
    /// Mean per-query AUC (probability that a relevant image outscores an irrelevant one, ties counting ½).
    public var auc: Double
    /// How many queries were averaged (those with at least one gain > 0).
    public var queries: Int

    /// Creates metrics; every value defaults to 0.
    public init(
        ndcg5: Double = 0,
        ndcg10: Double = 0,
        ndcg15: Double = 0,
        ndcg20: Double = 0,
        ndcg25: Double = 0,
        precision5: Double = 0,
        meanAveragePrecision: Double = 0,
        meanReciprocalRank: Double = 0,
        auc: Double = 0,
        queries: Int = 0
    ) {
        self.ndcg5 = ndcg5
        self.ndcg10 = ndcg10
        self.ndcg15 = ndcg15
        self.ndcg20 = ndcg20
        self.ndcg25 = ndcg25
        self.precision5 = precision5
        self.meanAveragePrecision = meanAveragePrecision
        self.meanReciprocalRank = meanReciprocalRank
        self.auc = auc
        self.queries = queries
    }

    /// The NDCG cut-offs reported, in field order.
    public static let ndcgCutoffs = [5, 10, 15, 20, 25]

    /// Mean NDCG at one of the reported cut-offs (5, 10, 15, 20, 25); nil for any other.
    /// - Parameter k: The cut-off.
    /// - Returns: The mean NDCG@k.
    public func ndcg(at k: Int) -> Double? {
        switch k {
        case 5: ndcg5
        case 10: ndcg10
        case 15: ndcg15
        case 20: ndcg20
        case 25: ndcg25
        default: nil
        }
    }
}
