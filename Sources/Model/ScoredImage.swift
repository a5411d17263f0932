/// The score of one image for a query, with the modality weights that produced it.
public struct ScoredImage: Sendable, Hashable {
    /// Position of the image in the scored batch.
    public var index: Int
    /// `cos(q, u)` in [-1, 1].
    public var score: Float
    /// `β_v`, the weight of the attended visual vector.
    public var visualWeight: Float
    /// `β_k`, the weight of the attended keyword vector; `visualWeight + languageWeight == 1`.
    public var languageWeight: Float

    /// Creates a scored image.
    /// - Parameters:
    ///   - index: Batch position.
    ///   - score: Cosine score.
    ///   - visualWeight: `β_v`.
    ///   - languageWeight: `β_k`.
    public init(index: Int, score: Float, visualWeight: Float, languageWeight: Float) {
        self.index = index
        self.score = score
        self.visualWeight = visualWeight
        self.languageWeight = languageWeight
    }
}
