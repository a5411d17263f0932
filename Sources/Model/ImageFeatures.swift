/// The model inputs for one image: R region cells of dimension D and K keyword bags.
public struct ImageFeatures: Sendable, Hashable {
    /// Region cells, row-major R × D.
    public var regions: [Float]
    /// Number of region cells R (≥ 0).
    public var regionCount: Int
    /// One letter-trigram bag per keyword (K ≥ 0).
    public var keywords: [SparseVector]

    /// Creates image features.
    /// - Parameters:
    ///   - regions: Row-major R × D region features.
    ///   - regionCount: R; `regions.count` must be `R × D` for the model's D.
    ///   - keywords: Keyword trigram bags (see ``LetterTrigramHasher/encode(_:buckets:)``).
    public init(regions: [Float], regionCount: Int, keywords: [SparseVector]) {
        precondition(regionCount >= 0, "regionCount must be non-negative")
        self.regions = regions
        self.regionCount = regionCount
        self.keywords = keywords
    }
}
